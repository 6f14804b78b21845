"""memory_bound binds whatever an argument multiplies (issue 22): the shuffle estimator's counter
sets (one per shuffle, each with its bookkeeping), vector tables (per group, per shuffle), the
codes waiting for a histogram call. A bound too small is refused before any work, naming the
memory_bound the user passed, the argument that split it and the smallest values that work
(checked: those work, one less does not), never the part a structure got.

The peak memory itself is measured in benchmarks/memory_bound.py (not asserted here)."""
import re

import pytest
import torch

import deep_ei_fast as dei
from deep_ei_fast.api.estimated import VectorWithNulls, pair_counts
from deep_ei_fast.api.prepare import open_measurement
from deep_ei_fast.engine.memory_share import MemoryShare
from deep_ei_fast.engine.noise_streams import PhiloxStream
from deep_ei_fast.engine.pair_counts import COUNTER_SET_BYTES, PairBinning, PairCounts
from deep_ei_fast.engine.settings import MeasurementSettings

from helpers import make_net

SMALLEST = r"the smallest memory_bound that works is (\d+)"


@pytest.fixture
def layer():
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    return lin, dei.topology_of(net, torch.zeros(1, 4))


@pytest.fixture
def no_samples(monkeypatch):
    def refuse(*args):
        raise AssertionError("samples were drawn before the refusal")
    monkeypatch.setattr(PhiloxStream, "generate", refuse)


def counter_sets(lin, top, shuffles, memory_bound, vector=False):
    """The counters of a shuffle measurement, made (not fed) as the EI functions make them."""
    settings = MeasurementSettings(samples=1000, in_bins=8, out_bins=8, seed=0, progress=False,
                                   memory_bound=memory_bound, estimator="shuffle", shuffles=shuffles)
    m = open_measurement(lin, top, settings, dynamic_out=True)
    return VectorWithNulls(m) if vector else pair_counts(m, m.pair_binning(1000))


def test_a_million_shuffles_are_refused_under_the_default_bound(layer, no_samples):
    # The case: it took more than 3.4 GB under the 2 GiB default.
    lin, top = layer
    with pytest.raises(ValueError) as refused:
        dei.ei_parts(lin, top, samples=1000, in_bins=8, out_bins=8, seed=0, progress=False,
                     estimator="shuffle", shuffles=10**6)
    message = str(refused.value)
    assert message.startswith(f"memory_bound={2**31} (cut into 1000001 parts of 2147 bytes: 1000001 by "
                              "shuffles=1000000) is too small: ")
    smallest, fitting = (int(v) for v in re.search(SMALLEST + r" \(or shuffles <= (\d+) with this", message).groups())
    assert smallest == 1000001 * (smallest // 1000001) and (fitting + 1) * (smallest // 1000001) <= 2**31


@pytest.mark.parametrize("vector", [False, True], ids=["pairs", "vector"])
def test_the_refusal_names_the_users_bound_and_values_that_work(layer, vector):
    # The case: shuffles=10000 with memory_bound=2**20 said "memory_bound=104 is too small".
    lin, top = layer
    shuffles = 10000 if not vector else 1000
    with pytest.raises(ValueError) as refused:
        counter_sets(lin, top, shuffles, 2**20, vector)
    message = str(refused.value)
    assert message.startswith(f"memory_bound={2**20} (cut into {shuffles + 1} parts")
    assert f"by shuffles={shuffles}) is too small" in message and "memory_bound=104 " not in message
    smallest, fitting = (int(v) for v in re.search(SMALLEST + r" \(or shuffles <= (\d+) with this", message).groups())
    counter_sets(lin, top, shuffles, smallest, vector)  # the smallest memory_bound works
    with pytest.raises(ValueError, match=SMALLEST.replace(r"(\d+)", str(smallest))):
        counter_sets(lin, top, shuffles, smallest - 1, vector)
    counter_sets(lin, top, fitting, 2**20, vector)  # and so do that many shuffles
    with pytest.raises(ValueError, match="is too small"):
        counter_sets(lin, top, fitting + 1, 2**20, vector)


def test_every_counter_set_fits_its_part(layer):
    lin, top = layer
    bound = 10**6
    pairs = counter_sets(lin, top, 20, bound)
    sets = [pairs.counts, *pairs.nulls]
    assert len(sets) == 21
    for counts in sets:
        counters = max((a1 - a0) * (b1 - b0) for a0, a1, b0, b1 in counts.tiles) * counts.pair_bytes
        pending = counts.batch_limits[1]  # codes held before a histogram call (plus one block)
        assert COUNTER_SET_BYTES + counters + max(pending, counts.cache_limit) <= bound // 21


def test_only_the_real_pairing_keeps_the_first_codes(layer):
    lin, top = layer
    pairs = counter_sets(lin, top, 3, 10**6)
    x, y = torch.rand(4, 700), torch.rand(3, 700)
    pairs.add(x, y)
    assert pairs.counts.first_codes()[0].shape == (4, 512)
    assert all(null.first_codes() is None for null in pairs.nulls)


def test_pending_codes_stay_within_the_part_and_count_the_same():
    binning = PairBinning((0.0, 1.0), 8, [(0.0, 1.0)] * 2, [8, 8], torch.device("cpu"))
    share = MemoryShare(4 * (COUNTER_SET_BYTES + 6 * 324 + 2000)).split(4, "shuffles=3")
    small, large = PairCounts(binning, 3, 2, share), PairCounts(binning, 3, 2, 2**30)
    # whole counters in 3/4 of what the part leaves after its bookkeeping, pending codes in 1/4
    assert small.tiles == [(0, 3, 0, 2)] and small.batch_limits[1] == (share.bytes - COUNTER_SET_BYTES) // 4
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        x, y = torch.rand((3, 300), generator=g), torch.rand((2, 300), generator=g)
        small.add(x, y)
        large.add(x, y)
        assert small.unbinned_bytes <= small.batch_limits[1] + 300 * 5  # the limit plus one block
    assert large.unbinned_bytes == 6 * 300 * 5  # the default limits: all still pending
    keep = []
    for counts in (small, large):
        counts.per_pair(lambda c, *_: keep.append(c.clone()) or torch.zeros(c.shape[:2]))
    assert torch.equal(keep[0], keep[1])


def test_the_vector_and_pair_halves_name_the_split(layer):
    lin, top = layer
    with pytest.raises(ValueError, match=r"memory_bound=20000 \(cut into 2 parts of 10000 bytes: 2 by the "
                                         r"vector and the pair counts\) is too small: .*" + SMALLEST):
        dei.vector_and_pairwise_ei(lin, top, samples=1000, memory_bound=20_000, progress=False)


def test_groups_split_the_bound_with_their_bookkeeping(layer):
    lin, top = layer
    groups = [((0,), (k % 3,)) for k in range(200)]
    with pytest.raises(ValueError, match=r"memory_bound=1000000 \(cut into 200 parts of 5000 bytes: 200 by "
                                         r"the 200 groups\) is too small: .*besides 8192 bytes of bookkeeping"):
        dei.eis_between_groups(lin, top, groups, samples=1000, memory_bound=10**6, progress=False)
