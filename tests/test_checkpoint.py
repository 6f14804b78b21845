"""checkpoint=PATH of ei_parts, ei_parts_matrix and pairwise_stats: the same numbers with and
without it, interrupted runs resumed counting only the missing tiles, other arguments refused
naming the field, atomic tile files, and clear errors for corrupt ones.

Every comparison is exact (np.array_equal): a tile loaded from disk holds the float64 values
computed from the same counts, so nothing may differ by even one bit."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import deep_ei_fast as deep_ei
from deep_ei_fast.engine import checkpoint as checkpoint_module
from deep_ei_fast.engine.checkpoint import METADATA, TILE_PATTERN, TileStore
from deep_ei_fast.engine.noise_streams import PhiloxStream
from deep_ei_fast.engine.pair_counts import PairCounts

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


@pytest.mark.parametrize("estimator, shuffles", [("plugin", 1), ("miller_madow", 1), ("shuffle", 2)])
def test_pairwise_stats_identical_with_checkpoint_and_on_restart(layer, tmp_path, estimator, shuffles):
    net, lin, top = layer
    kwargs = dict(ARGS, estimator=estimator, shuffles=shuffles)
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
    ("pairwise_stats", {"estimator": "shuffle", "shuffles": 2}),
])
def test_interrupted_run_resumes_counting_only_missing_tiles(layer, tmp_path, monkeypatch, counted, function,
                                                            kwargs):
    net, lin, top = layer
    measure = getattr(deep_ei, function)
    expected = measure(lin, top, **ARGS, **kwargs)
    with monkeypatch.context() as patch:
        stop_after(patch, 4)
        with pytest.raises(Killed):
            measure(lin, top, checkpoint=tmp_path, **ARGS, **kwargs)
    finished = tiles_in(tmp_path)
    assert len(finished) == 4
    counted.clear()
    result = measure(lin, top, checkpoint=tmp_path, **ARGS, **kwargs)
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

    def half_written(stream, *arrays):
        stream.write(b"PK\x03\x04 partial")
        raise Killed
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module.np, "savez", half_written)
        with pytest.raises(Killed):
            deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    assert sorted(os.listdir(tmp_path)) == [METADATA]  # the temporary file is removed too
    # A temporary name can never pass for a tile.
    assert not TILE_PATTERN.match(".tmp-tile.counts.plugin_pairwise_mi_bits.a0-1.b0-5.npz")
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)


def test_corrupt_tile_file_is_named(layer, tmp_path):
    net, lin, top = layer
    deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    victim = tmp_path / tiles_in(tmp_path)[2]
    victim.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=rf"tile file {victim} is corrupt"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    with open(victim, "wb") as stream:
        np.savez(stream, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=rf"tile file {victim} holds an array of shape \(2, 2\)"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)


def test_a_run_refused_before_its_first_tile_does_not_bind_the_checkpoint(layer, tmp_path):
    net, lin, top = layer
    with pytest.raises(ValueError, match="memory_bound=100 is too small"):
        deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **{**ARGS, "memory_bound": 100})
    assert not (tmp_path / METADATA).exists()  # so the corrected call below is not refused
    expected = deep_ei.ei_parts_matrix(lin, top, **ARGS)
    assert np.array_equal(deep_ei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
