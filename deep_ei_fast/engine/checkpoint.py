"""A checkpoint directory: the finished tiles of one pairwise measurement, so that a long run
that is stopped can be restarted without counting them again.

    metadata.json                                 what the tiles were measured with (written
                                                  with the first tile)
    lock                                          held (flock) by the run using the directory
    tile.<label>.<estimate>.a<a0>-<a1>.b<b0>-<b1>.npz

<label> names the counters ("counts": the real pairing; "null<k>": the shuffle estimator's null
shift k), <estimate> the per-pair values computed from them, and the rectangle the pairs
[a0, a1) x [b0, b1) in absolute layer coordinates. Every file is written to a temporary name
(".tmp-..." never matches the tile pattern) and moved into place with os.replace, so a run
killed at any moment leaves only whole files. A directory whose metadata differs from the
run's is refused, naming the first field that differs.

Each tile is bound to its run: beside its arrays it holds the run's fingerprint (a SHA-256 of
the metadata: the arguments and the layer's weights), its own label, estimate and rectangle,
and a SHA-256 of its arrays. A tile from another run, one renamed, edited or corrupt, one with
values that cannot be (NaN, infinite, or failing the caller's check, such as negative counts),
and tiles in a directory without metadata, are refused naming the file. One run at a time uses
a directory: it holds an exclusive flock on ``lock`` while open (released by the kernel when
the process dies), and a second run is refused while it is held.
"""
import fcntl
import hashlib
import json
import os
import re
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 2  # 2: tiles carry their binding (version 1 tiles are refused with the metadata)
METADATA = "metadata.json"
LOCK = "lock"
BINDING = "binding"  # the entry of a tile file holding its binding (a JSON string)
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


def run_fingerprint(metadata):
    """SHA-256 of a run's metadata (canonical JSON): what binds its tiles to it."""
    return hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()


def arrays_checksum(arrays):
    """SHA-256 of numpy arrays: each one's dtype, shape and bytes (C order), in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class DirectoryLock:
    """An exclusive flock on PATH/lock, taken without waiting: ValueError naming the directory
    (and the holder's process id, which it writes there) when another run holds it. A flock
    belongs to the open file, so two runs in one process exclude each other too."""

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK)
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip()
            self._file.close()
            raise ValueError(
                f"checkpoint={folder!r} is in use by another run (process {holder or 'unknown'} "
                f"holds {self.path}); one run at a time may use a checkpoint directory: wait for "
                "it to end, or use another directory") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self):
        if not self._file.closed:
            self._file.close()  # closing the file releases its flock


class TileStore:
    """The finished tiles of a checkpoint directory, created or checked against `metadata`
    (a JSON-serializable dict of everything that changes the numbers). ``lock``: hold the
    directory's lock until close() (a process group's rank 0 holds it for every rank)."""

    def __init__(self, path, metadata, lock=True):
        path = os.fspath(path)
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"checkpoint={path!r} exists and is not a directory")
        os.makedirs(path, exist_ok=True)
        self.path = path
        self._lock = DirectoryLock(path) if lock else None
        try:
            self._open(metadata)
        except BaseException:
            self.close()
            raise

    def _open(self, metadata):
        metadata = json.loads(json.dumps({"format_version": FORMAT_VERSION, **metadata}))
        self._metadata_path = os.path.join(self.path, METADATA)
        self._finished = {}  # (label, rect) of the tiles on disk -> a file name
        for name in sorted(os.listdir(self.path)):
            match = TILE_PATTERN.match(name)
            if match:
                self._finished.setdefault((match[1], tuple(int(v) for v in match.groups()[2:])), name)
        # Written with the first tile: a run refused later (say, memory_bound too small) must
        # not leave metadata that would refuse its corrected rerun.
        self._metadata_written = os.path.exists(self._metadata_path)
        if self._metadata_written:
            self._check(self._metadata_path, metadata)
        elif self._finished:
            example = os.path.join(self.path, min(self._finished.values()))
            raise ValueError(
                f"checkpoint={self.path!r} holds tile files (such as {example}) but no {METADATA}: "
                "which run wrote them cannot be told; delete them, or use another directory")
        self.metadata = metadata
        self.fingerprint = run_fingerprint(metadata)

    def close(self):
        """Releases the directory's lock (the store is not used afterwards)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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

    def _binding(self, label, estimate, rect, arrays):
        return {"run": self.fingerprint, "label": label, "estimate": estimate,
                "rect": [int(v) for v in rect], "arrays_sha256": arrays_checksum(arrays)}

    def load(self, label, estimate, rect, value_shape, check=None):
        """The arrays saved for the tile, or None when it is not finished. value_shape: one
        leading shape per array that each must start with (None: not checked). check(arrays):
        what is wrong with values that pass the checksum (None: nothing), e.g. negative counts.
        A tile not bound to this run, or whose arrays are not what was saved, is refused."""
        path = os.path.join(self.path, tile_name(label, estimate, rect))
        if not os.path.exists(path):
            return None
        refuse = _refusal(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = [f"arr_{i}" for i in range(len(archive.files) - (BINDING in archive.files))]
                arrays = [archive[name] for name in names]
                binding = json.loads(str(archive[BINDING][()])) if BINDING in archive.files else None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise refuse(f"is corrupt ({error})") from None
        if not isinstance(binding, dict):
            raise refuse("is not bound to a run (no fingerprint: not written by this version)")
        if binding.get("run") != self.fingerprint:
            raise refuse("was written by another run (its fingerprint is not this run's: copied "
                         "from another checkpoint, or left by a run with other arguments)")
        expected = self._binding(label, estimate, rect, arrays)
        if any(binding.get(key) != expected[key] for key in ("label", "estimate", "rect")):
            raise refuse(f"holds the tile {binding.get('label')}.{binding.get('estimate')} of pairs "
                         f"{binding.get('rect')}, not the one its name says (renamed?)")
        if binding.get("arrays_sha256") != expected["arrays_sha256"]:
            raise refuse("does not hold what was saved (its checksum differs: corrupt or edited)")
        if len(arrays) != len(value_shape):
            raise refuse(f"holds {len(arrays)} arrays, expected {len(value_shape)}")
        for array, shape in zip(arrays, value_shape):
            if shape is not None and tuple(array.shape[:len(shape)]) != tuple(shape):
                raise refuse(f"holds an array of shape {tuple(array.shape)}, expected {tuple(shape)}...")
        problem = _values_problem(arrays) or (check(arrays) if check is not None else None)
        if problem:
            raise refuse(f"holds values that cannot be: {problem}")
        return tuple(arrays)

    def save(self, label, estimate, rect, arrays):
        """Saves a finished tile's arrays (numpy) atomically, bound to this run."""
        if not self._metadata_written:
            text = json.dumps(self.metadata, indent=1, sort_keys=True).encode()
            write_atomically(self._metadata_path, lambda stream: stream.write(text))
            self._metadata_written = True
        path = os.path.join(self.path, tile_name(label, estimate, rect))
        binding = np.array(json.dumps(self._binding(label, estimate, rect, arrays)))
        write_atomically(path, lambda stream: np.savez(stream, *arrays, **{BINDING: binding}))
        self._finished[(label, tuple(rect))] = os.path.basename(path)


def _refusal(path):
    """ValueError(f"checkpoint: the tile file {path} {what}; delete it ...") maker."""
    return lambda what: ValueError(f"checkpoint: the tile file {path} {what}; delete it to count "
                                   "that tile again")


def _values_problem(arrays):
    """What makes arrays of per-pair values impossible whatever they hold: non-numbers."""
    for k, array in enumerate(arrays):
        if array.dtype.kind not in "fiu":
            return f"array {k} is of type {array.dtype}, not numbers"
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return f"array {k} holds {int((~np.isfinite(array)).sum())} NaN or infinite values"
    return None
