"""The shuffle estimator's null is a function of the sample index (engine/null_pairing.py).

The null pairs samples within segments of NULL_SEGMENT samples aligned from sample 0 (cut where
a take ends), so the device's block size, the tiling and the thread count must not change a
single bit of the shuffle estimator, its standard errors or the convergence mode. The GPU's
block sizes are forced on the CPU here (BLOCK_LIMITS["cpu"] set to the "cuda" entry): before the
fix they changed pairwise_stats's EI_parts of a 40->30 sigmoid layer by 1.7e-4 bits.
"""
import numpy as np
import pytest
import torch
import torch.nn as nn

import deep_ei_fast as dei
from deep_ei_fast.engine import noise_streams
from deep_ei_fast.engine.noise_streams import PhiloxStream
from deep_ei_fast.engine.null_pairing import NULL_SEGMENT, block_shift, shifted_outputs

# (bytes, most samples) of the CPU's blocks: the default, the GPU's, and small ones that cut
# the samples into many blocks of 1 and 3 segments.
BLOCK_LIMITS = {
    "cpu": noise_streams.BLOCK_LIMITS["cpu"],
    "cuda": noise_streams.BLOCK_LIMITS["cuda"],
    "one segment": (16 * 2**20, NULL_SEGMENT),
    "three segments": (16 * 2**20, 3 * NULL_SEGMENT),
}


def _reference_null(y, take_ends, k):
    """The null-k outputs of samples [0, N) written from the definition: sample i's segment is
    [i // L * L, next multiple of L), cut at the take ends; within a segment of length l, sample
    i gets the output of sample base + (i - base - shift) mod l, shift = block_shift(l, k)."""
    n = y.shape[1]
    cuts = sorted({0, n, *take_ends, *range(0, n, NULL_SEGMENT)})
    source = np.empty(n, dtype=np.int64)
    for base, end in zip(cuts[:-1], cuts[1:]):
        length = end - base
        shift = block_shift(length, k)
        for i in range(base, end):
            source[i] = base + (i - base - shift) % length
    return y[:, torch.from_numpy(source)]


@pytest.mark.parametrize("block", [NULL_SEGMENT, 3 * NULL_SEGMENT, 8 * NULL_SEGMENT])
@pytest.mark.parametrize("takes", [[5000], [1000, 1000, 2000, 999], [300, 7, 5000]])
def test_blocks_of_every_size_give_the_reference_null(block, takes):
    # A PhiloxStream's blocks (any block size, takes that end off the segments as convergence
    # rounds do) with shifted_outputs applied to each equal the null written from its definition.
    n_out = 3
    y = torch.arange(n_out * sum(takes), dtype=torch.float32).reshape(n_out, -1)
    stream = PhiloxStream.__new__(PhiloxStream)  # only its block cuts are used
    stream.block, stream.position, stream._takes = block, 0, []
    bounds = [b for take in takes for b in stream.take_bounds(take)]
    for start, end in bounds:  # each block starts on a segment or ends before the next one
        assert start % NULL_SEGMENT == 0 or end <= (start // NULL_SEGMENT + 1) * NULL_SEGMENT
    take_ends = np.cumsum(takes).tolist()
    for k in (1, 2, 300):
        got = torch.cat([shifted_outputs(y[:, a:b], k) for a, b in bounds], dim=1)
        assert torch.equal(got, _reference_null(y, take_ends, k))


def test_null_is_a_derangement_of_each_segment():
    y = torch.arange(2 * NULL_SEGMENT + 5, dtype=torch.float32).reshape(1, -1)
    null = shifted_outputs(y, 1)[0]
    assert not torch.any(null == y[0])  # no sample keeps its own output
    for a, b in [(0, NULL_SEGMENT), (NULL_SEGMENT, 2 * NULL_SEGMENT), (2 * NULL_SEGMENT, y.shape[1])]:
        assert torch.equal(null[a:b].sort().values, y[0, a:b])  # a permutation within the segment


def _layer(n_in, n_out, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_in, n_out), nn.Sigmoid())
    return model[0], dei.topology_of(model, torch.zeros(1, n_in))


def _under_each_block_size(monkeypatch, run):
    results = {}
    for name, limits in BLOCK_LIMITS.items():
        monkeypatch.setitem(noise_streams.BLOCK_LIMITS, "cpu", limits)
        results[name] = run()
    return results


def _assert_all_equal(results, fields):
    first_name, first = next(iter(results.items()))
    for name, result in results.items():
        for field in fields:
            a, b = np.asarray(getattr(first, field)), np.asarray(getattr(result, field))
            assert np.array_equal(a, b), f"{field} differs between blocks {first_name!r} and {name!r}"


def test_pairwise_stats_shuffle_same_bits_under_every_block_size(monkeypatch):
    # 30001 samples: the last segment is partial (30001 = 117 * 256 + 49).
    layer, top = _layer(40, 30)
    kw = dict(samples=30001, seed=7, estimator="shuffle", shuffles=2, progress=False)
    results = _under_each_block_size(monkeypatch, lambda: dei.pairwise_stats(layer, top, **kw))
    _assert_all_equal(results, ["plugin_mi", "mi", "standard_error", "p_value", "significant",
                                "ei_parts_standard_error"])


def test_pairwise_stats_shuffle_same_bits_tiled_and_at_one_thread(monkeypatch):
    layer, top = _layer(12, 9)
    kw = dict(samples=20000, seed=3, estimator="shuffle", progress=False, in_bins=8, out_bins=8)
    whole = dei.pairwise_stats(layer, top, **kw)
    monkeypatch.setitem(noise_streams.BLOCK_LIMITS, "cpu", BLOCK_LIMITS["cuda"])
    tiled = dei.pairwise_stats(layer, top, memory_bound=3 * 2**14, **kw)  # forces several tiles
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_thread = dei.pairwise_stats(layer, top, **kw)
    finally:
        torch.set_num_threads(threads)
    _assert_all_equal({"whole": whole, "tiled": tiled, "one thread": one_thread},
                      ["mi", "standard_error", "p_value", "ei_parts_standard_error"])


def test_ei_parts_and_vector_shuffle_same_bits_under_every_block_size(monkeypatch):
    layer, top = _layer(10, 6)
    kw = dict(seed=11, estimator="shuffle", shuffles=3, progress=False, in_bins=8, out_bins=8)
    results = _under_each_block_size(monkeypatch, lambda: (
        dei.ei_parts(layer, top, samples=25000, **kw),
        dei.ei_parts_matrix(layer, top, samples=25000, **kw),
        dei.vector_stats(layer, top, samples=25000, **kw)))
    first = results["cpu"]
    for name, (parts, matrix, vector) in results.items():
        assert parts == first[0], name
        assert np.array_equal(matrix, first[1]), name
        assert (vector.value, vector.standard_error) == (first[2].value, first[2].standard_error), name


def test_convergence_mode_shuffle_same_bits_under_every_block_size(monkeypatch):
    # samples=None: rounds of 10k, 10k, 20k, ... samples; 10000 is not a multiple of 256, so
    # the takes start inside segments.
    layer, top = _layer(6, 5)
    kw = dict(seed=5, estimator="shuffle", progress=False, in_bins=8, out_bins=8, threshold=0.01)
    results = _under_each_block_size(monkeypatch, lambda: (
        dei.ei(layer, top, **kw), dei.ei_parts(layer, top, **kw)))
    assert len(set(results.values())) == 1, results


def test_sensitivity_shuffle_same_bits_for_every_batch_size():
    # rng="torch" draws in deep-ei's batches; the null's segments do not follow them.
    layer, top = _layer(5, 4)
    kw = dict(samples=3000, estimator="shuffle", progress=False, in_bins=8, out_bins=8, rng="torch")
    results = {}
    for batch_size in (20, 1000, 5000):
        torch.manual_seed(0)
        results[batch_size] = dei.sensitivity_stats(layer, top, batch_size=batch_size, **kw)
    _assert_all_equal(results, ["plugin_mi", "mi", "standard_error", "ei_parts_standard_error"])


def test_causal_plane_shuffle_with_errors_same_bits_under_every_block_size(monkeypatch):
    # samples=None (the vector EI's rounds) with standard errors: EI, EI_parts, sensitivity and
    # every standard error of each row.
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Sigmoid())
    kw = dict(seed=9, estimator="shuffle", shuffles=2, standard_errors=True, in_bins=8, out_bins=8,
              sensitivity_samples=700, threshold=0.2, progress=False)
    results = _under_each_block_size(monkeypatch, lambda: dei.causal_plane(model, torch.zeros(1, 6), **kw))
    columns = ["ei", "ei_parts", "sensitivity", "samples", "ei_standard_error", "ei_parts_standard_error",
               "sensitivity_standard_error"]
    first = [[getattr(row, c) for c in columns] for row in results["cpu"]]
    for name, plane in results.items():
        assert [[getattr(row, c) for c in columns] for row in plane] == first, name
