"""checkpoint=PATH of ei_parts, ei_parts_matrix and pairwise_stats: the same numbers with and
without it, interrupted runs resumed counting only the missing tiles, other arguments refused
naming the field, atomic tile files, and clear errors for corrupt ones.

Every comparison is exact (np.array_equal): a tile loaded from disk holds the float64 values
computed from the same counts, so nothing may differ by even one bit."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import deep_ei_fast as deep_ei
from deep_ei_fast.engine import checkpoint as checkpoint_module
from deep_ei_fast.engine.checkpoint import BINDING, LOCK, METADATA, TILE_PATTERN, TileStore, arrays_checksum
from deep_ei_fast.engine.noise_streams import PhiloxStream
from deep_ei_fast.engine.pair_counts import COUNTER_SET_BYTES, PairCounts

from helpers import make_net

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 6 x 5 pairs of 9 x 9 int32 counters (324 bytes): 3000 bytes hold one row of pairs per tile,
# so each counter set splits into 6 tiles (shuffles=2: 3 sets of 18 smaller tiles).
ARGS = dict(samples=3000, in_bins=8, out_bins=8, seed=3, progress=False, memory_bound=3000)
FIELDS = ("plugin_mi", "mi", "standard_error", "p_value", "significant")


@pytest.fixture(scope="module")
def layer():
    net, lin = make_net(6, 5, "sigmoid", seed=1)
    return net, lin, deep_ei.topology_of(net, torch.zeros(1, 6))


def tiles_in(path):
    return sorted(name for name in os.listdir(path) if TILE_PATTERN.match(name))


def assert_same_stats(expected, got):
    for field in FIELDS:
        assert np.array_equal(getattr(expected, field), getattr(got, field)), field
    assert expected.ei_parts_standard_error == got.ei_parts_standard_error
    assert expected.samples == got.samples


@pytest.fixture
def counted(monkeypatch):
    """The (label, rect) of every tile counted (not loaded) while the test runs."""
    seen = []
    original = PairCounts.counted_tiles

    def spy(self, skip=()):
        for rect, counts, out_bins in original(self, skip):
            seen.append((self.tile_label, rect))
            yield rect, counts, out_bins
    monkeypatch.setattr(PairCounts, "counted_tiles", spy)
    return seen


def test_matrix_identical_with_checkpoint_and_on_restart(layer, tmp_path, counted, monkeypatch):
    net, lin, top = layer
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    counted.clear()
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
    assert len(tiles_in(tmp_path)) == 6 and len(counted) == 6
    counted.clear()

    def no_draws(self, samples):
        raise AssertionError("a finished checkpoint drew samples")
    monkeypatch.setattr(PhiloxStream, "take", no_draws)
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
    assert counted == []


def test_ei_parts_shares_the_matrix_checkpoint(layer, tmp_path):
    net, lin, top = layer
    expected = deep_ei.ei_parts(lin, top, **ARGS)
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    assert deep_ei.ei_parts(lin, top, checkpoint=tmp_path, **ARGS) == expected


def shuffle_bound(shuffles, part=ARGS["memory_bound"]):
    """A memory_bound whose shuffles + 1 parts each leave `part` bytes for the counters."""
    return (shuffles + 1) * (COUNTER_SET_BYTES + part)


@pytest.mark.parametrize("estimator, shuffles", [("plugin", 1), ("miller_madow", 1), ("shuffle", 2)])
def test_pairwise_stats_identical_with_checkpoint_and_on_restart(layer, tmp_path, estimator, shuffles):
    net, lin, top = layer
    kwargs = dict(ARGS, estimator=estimator, shuffles=shuffles)
    if estimator == "shuffle":
        kwargs["memory_bound"] = shuffle_bound(shuffles)
    expected = deep_ei.pairwise_stats(lin, top, **kwargs)
    assert_same_stats(expected, deep_ei.pairwise_stats(lin, top, checkpoint=tmp_path, **kwargs))
    labels = {TILE_PATTERN.match(name)[1] for name in tiles_in(tmp_path)}
    assert labels == {"counts", *(f"null{k}" for k in range(1, shuffles + 1) if estimator == "shuffle")}
    assert_same_stats(expected, deep_ei.pairwise_stats(lin, top, checkpoint=tmp_path, **kwargs))


class Killed(Exception):
    pass


def stop_after(monkeypatch, saves):
    """TileStore.save raises Killed once `saves` tiles are saved (the run dies mid-way)."""
    original, done = TileStore.save, []

    def save(self, *args):
        if len(done) == saves:
            raise Killed
        original(self, *args)
        done.append(args[:3])
    monkeypatch.setattr(TileStore, "save", save)


@pytest.mark.parametrize("function, kwargs", [
    ("ei_parts_matrix", {}),
    ("pairwise_stats", {"estimator": "shuffle", "shuffles": 2, "memory_bound": shuffle_bound(2)}),
])
def test_interrupted_run_resumes_counting_only_missing_tiles(layer, tmp_path, monkeypatch, counted, function,
                                                            kwargs):
    net, lin, top = layer
    measure = getattr(deep_ei, function)
    expected = measure(lin, top, **{**ARGS, **kwargs})
    with monkeypatch.context() as patch:
        stop_after(patch, 4)
        with pytest.raises(Killed):
            measure(lin, top, checkpoint=tmp_path, **{**ARGS, **kwargs})
    finished = tiles_in(tmp_path)
    assert len(finished) == 4
    counted.clear()
    result = measure(lin, top, checkpoint=tmp_path, **{**ARGS, **kwargs})
    if function == "pairwise_stats":
        assert_same_stats(expected, result)
    else:
        assert np.array_equal(result, expected)
    everything = tiles_in(tmp_path)
    resumed = {(TILE_PATTERN.match(n)[1], tuple(int(v) for v in TILE_PATTERN.match(n).groups()[2:]))
               for n in everything if n not in finished}
    assert sorted(counted) == sorted(resumed) and len(counted) == len(everything) - 4


KILLED_RUN = """
import sys, time, torch
sys.path.insert(0, {tests!r})
from helpers import make_net
import deep_ei_fast as deep_ei
from deep_ei_fast.engine.checkpoint import TileStore
original = TileStore.save
def slow_save(self, *args):
    original(self, *args)
    time.sleep(60)  # killed here, after its first tile
TileStore.save = slow_save
net, lin = make_net(6, 5, "sigmoid", seed=1)
deep_ei.ei_parts_matrix(lin, deep_ei.topology_of(net, torch.zeros(1, 6)), checkpoint={path!r}, **{args!r})
"""


def test_killed_process_resumes_from_its_checkpoint(layer, tmp_path, counted):
    net, lin, top = layer
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    counted.clear()
    script = KILLED_RUN.format(tests=os.path.join(ROOT, "tests"), path=str(tmp_path), args=ARGS)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not tiles_in(tmp_path):
            assert process.poll() is None, "the run ended before its first tile"
            assert time.monotonic() < deadline, "no tile within 120 s"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(tiles_in(tmp_path)) == 1
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
    assert len(counted) == 5 and len(tiles_in(tmp_path)) == 6


@pytest.mark.parametrize("change, field", [
    ({"seed": 4}, "philox_seed"),
    ({"samples": 3001}, "samples"),
    ({"in_bins": 9}, "in_bins"),
    ({"out_bins": 7}, "out_bins"),
    ({"estimator": "miller_madow"}, "estimator"),
    ({"memory_bound": 4000}, "memory_bound"),
    ({"in_range": (0.0, 2.0)}, "in_range"),
])
def test_other_arguments_are_refused_naming_the_field(layer, tmp_path, change, field):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    with pytest.raises(ValueError, match=rf"other arguments: {field} is .* there and .* in this run"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **{**ARGS, **change})


def test_other_weights_and_functions_are_refused(layer, tmp_path):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    with pytest.raises(ValueError, match="function is 'ei_parts_matrix' there and 'pairwise_stats'"):
        deep_ei.pairwise_stats(lin, top, checkpoint=tmp_path, **ARGS)
    other, other_lin = make_net(6, 5, "sigmoid", seed=1)
    with torch.no_grad():
        other_lin.weight[0, 0] += 1e-3
    with pytest.raises(ValueError, match="layer.parameters_sha256 is"):
        deep_ei.ei_parts_matrix(other_lin, deep_ei.topology_of(other, torch.zeros(1, 6)),
                                checkpoint=tmp_path, **ARGS)


def test_seed_none_stores_the_resolved_seed(layer, tmp_path):
    net, lin, top = layer
    args = dict(ARGS, seed=None)
    torch.manual_seed(11)
    first = deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **args)
    torch.manual_seed(11)  # the same global state draws the same philox seed: accepted
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **args), first)
    torch.manual_seed(12)
    with pytest.raises(ValueError, match="philox_seed is"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **args)


@pytest.mark.parametrize("change, error, message", [
    ({"samples": None}, ValueError, "needs a fixed number of samples"),
    ({"rng": "torch", "seed": None}, ValueError, "needs rng='philox'"),
])
def test_unsupported_modes_are_refused_before_any_work(layer, tmp_path, change, error, message):
    net, lin, top = layer
    with pytest.raises(error, match=message):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path / "c", **{**ARGS, **change})
    assert not (tmp_path / "c").exists()


def test_bad_checkpoint_arguments(layer, tmp_path):
    net, lin, top = layer
    with pytest.raises(TypeError, match="checkpoint must be a directory path"):
        deep_ei.ei_parts(lin, top, checkpoint=3, **ARGS)
    with pytest.raises(ValueError, match="does not apply to extrapolate=True"):
        deep_ei.ei_parts(lin, top, extrapolate=True, checkpoint=tmp_path, **ARGS)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path / "file", **ARGS)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / METADATA).write_text("{not json")
    with pytest.raises(ValueError, match="cannot read .*metadata.json"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path / "bad", **ARGS)


def test_a_failed_write_leaves_no_tile_file(layer, tmp_path, monkeypatch):
    net, lin, top = layer

    def half_written(stream, *arrays, **named):
        stream.write(b"PK\x03\x04 partial")
        raise Killed
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module.np, "savez", half_written)
        with pytest.raises(Killed):
            deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    assert sorted(os.listdir(tmp_path)) == [LOCK, METADATA]  # the temporary file is removed too
    # A temporary name can never pass for a tile.
    assert not TILE_PATTERN.match(".tmp-tile.counts.plugin_pairwise_mi_bits.a0-1.b0-5.npz")
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)


def test_corrupt_tile_file_is_named(layer, tmp_path):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    victim = tmp_path / tiles_in(tmp_path)[2]
    binding = read_tile(victim)[1]
    victim.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=rf"tile file {victim} is corrupt"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    forge(victim, [np.zeros((2, 2))], binding)
    with pytest.raises(ValueError, match=rf"tile file {victim} holds an array of shape \(2, 2\)"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)


# ------------------------------------------------------------------------------------------
# tiles bound to their run (issue 22): fingerprint, bounds, checksum, values, metadata
# ------------------------------------------------------------------------------------------
def read_tile(path):
    """(arrays, binding dict) of a tile file."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = [archive[f"arr_{i}"] for i in range(len(archive.files) - 1)]
        return arrays, json.loads(str(archive[BINDING][()]))


def forge(path, arrays, binding):
    """Writes `arrays` to `path` with `binding` and a checksum that matches them: what only a
    deliberate forger could write."""
    binding = dict(binding, arrays_sha256=arrays_checksum(arrays))
    with open(path, "wb") as stream:
        np.savez(stream, *arrays, **{BINDING: np.array(json.dumps(binding))})


def test_tiles_without_metadata_are_refused(layer, tmp_path):
    # the case: metadata.json deleted, then a run on another layer returned the old matrix
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    (tmp_path / METADATA).unlink()
    other, other_lin = make_net(6, 5, "sigmoid", seed=2)
    with pytest.raises(ValueError, match=rf"holds tile files \(such as {tmp_path}/tile\..*\) but no metadata.json"):
        deep_ei.ei_parts_matrix(other_lin, deep_ei.topology_of(other, torch.zeros(1, 6)),
                                checkpoint=tmp_path, **ARGS)


def test_a_tile_from_another_run_is_refused(layer, tmp_path):
    net, lin, top = layer
    first, second = tmp_path / "first", tmp_path / "second"
    deep_ei.ei_parts_matrix(lin, top, checkpoint=first, **ARGS)
    deep_ei.ei_parts_matrix(lin, top, checkpoint=second, **{**ARGS, "seed": 4})
    name = tiles_in(first)[3]
    shutil.copy(second / name, first / name)
    with pytest.raises(ValueError, match=rf"tile file {first / name} was written by another run"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=first, **ARGS)


def test_swapped_tiles_are_refused(layer, tmp_path):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    a, b = (tmp_path / name for name in tiles_in(tmp_path)[:2])
    a.rename(tmp_path / "x")
    b.rename(a)
    (tmp_path / "x").rename(b)
    with pytest.raises(ValueError, match=rf"tile file {a} holds the tile counts.plugin_pairwise_mi_bits of "
                                         r"pairs \[1, 2, 0, 5\], not the one its name says"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)


def test_an_edited_tile_is_refused(layer, tmp_path):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    victim = tmp_path / tiles_in(tmp_path)[1]
    arrays, binding = read_tile(victim)
    arrays[0][0, 0] += 0.5  # a plausible MI, but not the one counted
    with open(victim, "wb") as stream:
        np.savez(stream, *arrays, **{BINDING: np.array(json.dumps(binding))})
    with pytest.raises(ValueError, match=rf"tile file {victim} does not hold what was saved \(its checksum"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    with open(victim, "wb") as stream:  # a tile of the previous format: no binding at all
        np.savez(stream, *arrays)
    with pytest.raises(ValueError, match=rf"tile file {victim} is not bound to a run"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)


@pytest.mark.parametrize("function, column, value, message", [
    ("pairwise_stats", 1, np.nan, "array 0 holds 5 NaN or infinite values"),
    ("pairwise_stats", 1, -5.0, "samples that are not counts"),
    ("pairwise_stats", 2, 2.5, "occupied input bins that are not counts"),
    ("pairwise_stats", 5, -1e-3, "a negative variance"),
    ("ei_parts_matrix", None, -0.25, r"a plug-in MI of -0.25 bits \(below 0\)"),
    ("ei_parts_matrix", None, np.inf, "array 0 holds 5 NaN or infinite values"),
])
def test_values_that_cannot_be_counts_are_refused(layer, tmp_path, function, column, value, message):
    # checksummed as if written so: only the values give them away
    net, lin, top = layer
    kwargs = dict(ARGS, estimator="plugin")
    getattr(deep_ei, function)(lin, top, checkpoint=tmp_path, **kwargs)
    victim = tmp_path / tiles_in(tmp_path)[0]
    arrays, binding = read_tile(victim)
    if column is None:
        arrays[0][...] = value
    else:
        arrays[0][..., column] = value
    forge(victim, arrays, binding)
    with pytest.raises(ValueError, match=rf"tile file {victim} holds values that cannot be: {message}"):
        getattr(deep_ei, function)(lin, top, checkpoint=tmp_path, **kwargs)


# ------------------------------------------------------------------------------------------
# one run at a time per directory
# ------------------------------------------------------------------------------------------
def test_a_second_run_is_refused_while_the_directory_is_in_use(layer, tmp_path):
    net, lin, top = layer
    with TileStore(tmp_path, {"anything": 1}):  # another run holding the directory
        with pytest.raises(ValueError, match=rf"checkpoint='{tmp_path}' is in use by another run "
                                             rf"\(process {os.getpid()} holds {tmp_path}/lock\)"):
            deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
        assert tiles_in(tmp_path) == []
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)  # released: the directory is free again
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)


SLOW_RUN = """
import sys, time, torch
sys.path.insert(0, {tests!r})
from helpers import make_net
import deep_ei_fast as deep_ei
from deep_ei_fast.engine.checkpoint import TileStore
original = TileStore.save
def slow_save(self, *args):
    original(self, *args)
    time.sleep({pause})
TileStore.save = slow_save
net, lin = make_net(6, 5, "sigmoid", seed=1)
deep_ei.ei_parts_matrix(lin, deep_ei.topology_of(net, torch.zeros(1, 6)), checkpoint={path!r},
                        **{args!r})
"""


def slow_run(path, seed, pause):
    script = SLOW_RUN.format(tests=os.path.join(ROOT, "tests"), path=str(path), pause=pause,
                             args={**ARGS, "seed": seed})
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)


def test_two_runs_with_different_seeds_on_one_fresh_directory_never_mix(layer, tmp_path):
    # The case: both started at once, one killed midway; the directory then resumed
    # with exit 0 and held pairs of both seeds. Now the second is refused while the first
    # runs, the first is killed after a tile, and the directory resumes its seed only.
    net, lin, top = layer
    # Each sleeps a minute after every tile: the first to open the directory holds it well past
    # the other's start, however slowly either imports, and is killed after its first tile.
    runs = {seed: slow_run(tmp_path, seed, pause=60) for seed in (3, 4)}
    deadline = time.monotonic() + 120
    while not any(run.poll() is not None for run in runs.values()):
        assert time.monotonic() < deadline, "neither run ended within 120 s"
        time.sleep(0.05)
    loser = next(seed for seed, run in runs.items() if run.poll() is not None)
    winner = 7 - loser
    assert runs[loser].returncode == 1
    assert f"checkpoint='{tmp_path}' is in use by another run" in runs[loser].stderr.read()
    while not tiles_in(tmp_path):
        assert runs[winner].poll() is None and time.monotonic() < deadline, "the winner wrote no tile"
        time.sleep(0.05)
    runs[winner].send_signal(signal.SIGKILL)
    runs[winner].wait()
    assert 1 <= len(tiles_in(tmp_path)) < 6
    expected = deep_ei.ei_parts_matrix(lin, top, **{**ARGS, "seed": winner})
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **{**ARGS, "seed": winner}),
                          expected)
    with pytest.raises(ValueError, match=f"philox_seed is {winner} there and {loser} in this run"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **{**ARGS, "seed": loser})


def test_a_run_refused_before_its_first_tile_does_not_bind_the_checkpoint(layer, tmp_path):
    net, lin, top = layer
    with pytest.raises(ValueError, match="memory_bound=100 is too small"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **{**ARGS, "memory_bound": 100})
    assert not (tmp_path / METADATA).exists()  # so the corrected call below is not refused
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
