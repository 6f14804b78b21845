"""A checkpoint directory: the finished tiles of one pairwise measurement, so that a long run
that is stopped can be restarted without counting them again.

    metadata.json                                 what the tiles were measured with (written
                                                  with the first tile)
    tile.<label>.<estimate>.a<a0>-<a1>.b<b0>-<b1>.npz

<label> names the counters ("counts": the real pairing; "null<k>": the shuffle estimator's null
shift k), <estimate> the per-pair values computed from them, and the rectangle the pairs
[a0, a1) x [b0, b1) in absolute layer coordinates. Every file is written to a temporary name
(".tmp-..." never matches the tile pattern) and moved into place with os.replace, so a run
killed at any moment leaves only whole files. A directory whose metadata differs from the
run's is refused, naming the first field that differs.
"""
import json
import os
import re
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 1
METADATA = "metadata.json"
TILE_PATTERN = re.compile(r"^tile\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\.a(\d+)-(\d+)\.b(\d+)-(\d+)\.npz$")
_TEMPORARY_PREFIX = ".tmp-"


def tile_name(label, estimate, rect):
    a0, a1, b0, b1 = rect
    return f"tile.{label}.{estimate}.a{a0}-{a1}.b{b0}-{b1}.npz"


def write_atomically(path, write):
    """write(binary file) into a temporary file beside `path`, flushed to disk, then renamed
    over `path` (atomic on POSIX: readers see the old file, or none, or the whole new one)."""
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _first_difference(stored, current, prefix=""):
    """(field, stored value, current value) of the first field that differs, or None."""
    for key in list(current) + [k for k in stored if k not in current]:
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key}", a, b
    return None


class TileStore:
    """The finished tiles of a checkpoint directory, created or checked against `metadata`
    (a JSON-serializable dict of everything that changes the numbers)."""

    def __init__(self, path, metadata):
        path = os.fspath(path)
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"checkpoint={path!r} exists and is not a directory")
        os.makedirs(path, exist_ok=True)
        self.path = path
        metadata = json.loads(json.dumps({"format_version": FORMAT_VERSION, **metadata}))
        self._metadata_path = os.path.join(path, METADATA)
        # Written with the first tile: a run refused later (say, memory_bound too small) must
        # not leave metadata that would refuse its corrected rerun.
        self._metadata_written = os.path.exists(self._metadata_path)
        if self._metadata_written:
            self._check(self._metadata_path, metadata)
        self.metadata = metadata
        self._finished = set()  # (label, rect) of the tiles on disk
        for name in os.listdir(path):
            match = TILE_PATTERN.match(name)
            if match:
                self._finished.add((match[1], tuple(int(v) for v in match.groups()[2:])))

    def _check(self, metadata_path, metadata):
        try:
            with open(metadata_path) as stream:
                stored = json.load(stream)
        except (OSError, ValueError) as error:
            raise ValueError(f"checkpoint: cannot read {metadata_path} ({error})") from None
        if not isinstance(stored, dict):
            raise ValueError(f"checkpoint: {metadata_path} does not hold a JSON object")
        difference = _first_difference(stored, metadata)
        if difference:
            field, was, now = difference
            raise ValueError(
                f"checkpoint={self.path!r} was written by a run with other arguments: {field} is "
                f"{was!r} there and {now!r} in this run (use another checkpoint directory, or "
                "the same arguments)")

    def finished(self, label, rect):
        """Whether a tile of `label`'s counters over `rect` is on disk (any estimate)."""
        return (label, tuple(rect)) in self._finished

    def load(self, label, estimate, rect, value_shape):
        """The arrays saved for the tile, or None when it is not finished. value_shape: one
        leading shape per array that each must start with (None: not checked)."""
        path = os.path.join(self.path, tile_name(label, estimate, rect))
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = [archive[f"arr_{i}"] for i in range(len(archive.files))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"checkpoint: the tile file {path} is corrupt ({error}); delete it "
                             "to count that tile again") from None
        if len(arrays) != len(value_shape):
            raise ValueError(f"checkpoint: the tile file {path} holds {len(arrays)} arrays, "
                             f"expected {len(value_shape)}; delete it to count that tile again")
        for array, shape in zip(arrays, value_shape):
            if shape is not None and tuple(array.shape[:len(shape)]) != tuple(shape):
                raise ValueError(f"checkpoint: the tile file {path} holds an array of shape "
                                 f"{tuple(array.shape)}, expected {tuple(shape)}...; delete it "
                                 "to count that tile again")
        return tuple(arrays)

    def save(self, label, estimate, rect, arrays):
        """Saves a finished tile's arrays (numpy) atomically."""
        if not self._metadata_written:
            text = json.dumps(self.metadata, indent=1, sort_keys=True).encode()
            write_atomically(self._metadata_path, lambda stream: stream.write(text))
            self._metadata_written = True
        path = os.path.join(self.path, tile_name(label, estimate, rect))
        write_atomically(path, lambda stream: np.savez(stream, *arrays))
        self._finished.add((label, tuple(rect)))
