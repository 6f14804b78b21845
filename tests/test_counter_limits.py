"""Counts never overflow and what cannot be served is refused before heavy work (issue 8):
int32 pair counters are added into int64 totals before they could pass 2^31 - 1 samples
(tested with counters started near the limit, and with a lowered flush limit against the
unflushed result, ==); too many tiles, too large pair tables and too many samples raise a
ValueError naming the argument."""
import pytest
import torch

from helpers import make_net


def test_counters_flush_into_int64_near_the_int32_limit(dei):
    from deep_ei_fast.engine import ops
    from deep_ei_fast.engine.pair_counts import FLUSH_SAMPLES, Counters
    narrow = torch.zeros((1, 1, 3, 3), dtype=torch.int32)
    narrow[0, 0, 1, 1] = FLUSH_SAMPLES - 10  # as if that many samples had landed in one cell
    counters = Counters(narrow)
    counters.held = FLUSH_SAMPLES - 10
    codes = torch.ones((1, 25), dtype=torch.uint8)
    counters.add(ops.pair_histogram_accumulate_, codes, codes)  # 25 more: past 2^31 - 1
    totals = counters.totals()
    assert totals.dtype == torch.int64
    assert int(totals[0, 0, 1, 1]) == FLUSH_SAMPLES + 15 == 2**31 + 14
    assert int(totals.sum()) == FLUSH_SAMPLES + 15


def test_pairwise_mi_accepts_int64_counts(dei):
    from deep_ei_fast.engine import ops
    g = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 50, (3, 2, 9, 7), generator=g, dtype=torch.int32)
    out_bins = torch.tensor([6, 4], dtype=torch.int32)
    narrow = ops.pairwise_mi(counts, 8, out_bins)
    assert (narrow > 0).all()
    assert torch.equal(ops.pairwise_mi(counts.to(torch.int64), 8, out_bins), narrow)
    # beyond int32: every count times 2^26 (totals ~2^37) leaves the MI unchanged up to rounding
    wide = ops.pairwise_mi(counts.to(torch.int64) << 26, 8, out_bins)
    assert torch.allclose(wide, narrow, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["ei_parts_matrix", "vector_and_pairwise_ei"])
@pytest.mark.parametrize("memory_bound", [None, 64 * 1024])
def test_flushed_counts_equal_unflushed(dei, monkeypatch, name, memory_bound):
    from deep_ei_fast.engine import pair_counts
    net, lin = make_net(6, 5, "sigmoid", seed=7)
    top = dei.topology_of(net, torch.zeros((1, 6)))
    kw = dict(samples=20000, in_bins=16, out_bins=16, seed=2, progress=False)
    if memory_bound:
        kw["memory_bound"] = memory_bound  # tiled: each tile's counters flush too
    whole = getattr(dei, name)(lin, top, **kw)
    monkeypatch.setattr(pair_counts, "FLUSH_SAMPLES", 1000)  # a flush every few batches
    flushed = getattr(dei, name)(lin, top, **kw)
    assert (flushed == whole) if name != "ei_parts_matrix" else (flushed == whole).all()


def test_too_many_tiles_refused_with_smallest_bound(dei):
    from deep_ei_fast.engine.pair_counts import MAX_TILES, plan_tiles
    lin = torch.nn.Linear(1000, 1000)
    top = dei.topology_of(torch.nn.Sequential(lin, torch.nn.Sigmoid()), torch.zeros((1, 1000)))
    with pytest.raises(ValueError, match=r"memory_bound=30000 .* smallest memory_bound .* is (\d+)") as info:
        dei.ei_parts(lin, top, samples=10**9, memory_bound=30000, progress=False)
    smallest = int(info.value.args[0].rsplit(" ", 1)[1])
    pair_bytes = 65 * 65 * 4
    assert len(plan_tiles(1000, 1000, pair_bytes, smallest)) <= MAX_TILES
    with pytest.raises(ValueError, match="tiles"):
        plan_tiles(1000, 1000, pair_bytes, smallest - 1)


def test_huge_bins_refused_naming_bins_and_bytes(dei):
    x = torch.rand(100)
    with pytest.raises(ValueError, match=r"bins: 65535 x 65535 bins need a 17179869184-byte"):
        dei.MI(x, x, bins=65535)


def test_samples_beyond_exact_counting_refused(dei):
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"samples=1152921504606846976: at most"):
        dei.ei(lin, top, samples=2**60, progress=False)


@pytest.mark.parametrize("name", ["ei", "ei_parts", "pairwise_stats", "sensitivity"])
def test_the_documented_sample_limit_is_the_enforced_one(dei, name):
    # docs/differences.rst: at most 2^53 samples (per input for sensitivity), more refused
    from deep_ei_fast.api.prepare import open_measurement
    from deep_ei_fast.engine.measurement import MAX_SAMPLES
    from deep_ei_fast.engine.settings import MeasurementSettings
    assert MAX_SAMPLES == 2**53
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    with pytest.raises(ValueError, match=rf"samples={2**53 + 1}: at most {2**53} \(2\^53\) samples"):
        getattr(dei, name)(lin, top, samples=2**53 + 1, seed=0, progress=False)
    for samples in (2**31 + 5, 2**53):  # accepted (opened, not run)
        opened = open_measurement(lin, top, MeasurementSettings(samples=samples, progress=False))
        assert opened.settings.samples == samples
