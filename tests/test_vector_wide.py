"""Vector EI of wide layers and the count without sorting.

Rows of the vector tables have as many int64 words as the codes need (128 neurons at 64 bins:
13 words a side), counted exactly whatever the width (the CPU sort once refused more than 960
varying bits). When every input vector is distinct the table is not sorted
(engine/vector_counts.py: count_distinct_prefixes proves it, each X and (X, Y) then occurs
once); the count vectors, and so the entropies, must be the sorted table's bit for bit.

References: rng="torch" draws deep-ei's noise, which the test regenerates and feeds to the
plain-torch oracle (tests/torch_reference.py: torch.unique over the code rows); deep-ei 0.7.0
itself on a 128 -> 128 layer.
"""
import math

import numpy as np
import pytest
import torch
from test_vs_torch_reference import deep_ei_draws

import torch_reference as R
from helpers import make_net

KW = dict(in_range=(0, 1), progress=False)


def _net(n_in, n_out, act, seed):
    net, lin = make_net(n_in, n_out, act, seed=seed)
    from deep_ei_fast import topology_of
    return lin, topology_of(net, torch.zeros((1, n_in))), net


def test_every_row_distinct_gives_log2_samples(dei):
    """128 -> 128 sigmoid at 64 bins, 1e4 samples: every X, every Y and every (X, Y) occurs
    once (checked on the regenerated codes), so each count vector is 1e4 ones and EI = H(X) =
    log2(1e4): exactly the float of the all-ones entropy sum (H(X) + H(Y) - H(X, Y) with three
    equal terms), which is log2(1e4) to the rounding of a sum of 1e4 equal terms (4e-15 here;
    1e-12 allowed)."""
    from deep_ei_fast.estimators.plugin import entropy_bits
    lin, top, net = _net(128, 128, "sigmoid", seed=5)
    S = 10_000
    x, y = deep_ei_draws(lin, net[1], S, 1000, 0.0, 1.0, seed=21)
    xc, yc = R.vector_codes(x, 0, 1, 64), R.vector_codes(y, 0, 1, 64)
    assert R.distinct_counts(xc).shape[0] == R.distinct_counts(yc).shape[0] == S
    all_once = entropy_bits(torch.ones(S, dtype=torch.int64))
    torch.manual_seed(21)
    got_torch = dei.ei(lin, top, samples=S, batch_size=1000, in_bins=64, out_bins=64, rng="torch", **KW)
    got_philox = dei.ei(lin, top, samples=S, in_bins=64, out_bins=64, seed=3, **KW)
    assert got_torch == all_once and got_philox == all_once
    assert abs(all_once - math.log2(S)) < 1e-12


# (n_in, n_out, act, bins): wide on both sides; wide inputs with few output values (many equal
# Y); few inputs (many equal X: the table is sorted) with wide outputs; no activation: outputs
# below the range keep negative codes (32-bit output fields, 2 a word), those above are dropped
WIDE_CASES = [(100, 90, "tanh", 64), (200, 150, "sigmoid", 16), (96, 3, "sigmoid", 64), (3, 120, "tanh", 64),
              (40, 60, "none", 64)]
OUT_RANGES = {"tanh": (-1, 1), "sigmoid": (0, 1), "none": (-12, 12)}


@pytest.mark.parametrize("n_in,n_out,act,bins", WIDE_CASES)
def test_wide_layers_vs_reference(dei, n_in, n_out, act, bins):
    """ei and eis_between_groups (wide and narrow groups) against torch.unique over the code
    rows of the same samples."""
    lin, top, net = _net(n_in, n_out, act, seed=n_in + n_out)
    S, bs = 6000, 1000
    out_range = OUT_RANGES[act]
    x, y = deep_ei_draws(lin, net[1] if len(net) > 1 else None, S, bs, 0.0, 1.0, seed=22)
    if act == "none":  # the case exercises both sides of the range
        assert (y < out_range[0]).any() and (y >= out_range[1]).any()
    args = dict(samples=S, batch_size=bs, in_bins=bins, out_bins=bins, out_range=out_range, rng="torch", **KW)
    ref = R.vector_ei_from_samples(x, y, (0, 1), bins, out_range, bins)
    torch.manual_seed(22)
    assert dei.ei(lin, top, **args) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    groups = [(tuple(range(n_in)), tuple(range(n_out))), (tuple(range(0, n_in, 2)), (0,)),
              ((0,), tuple(range(1, n_out)))]
    ref_groups = R.group_eis_from_samples(x, y, groups, (0, 1), bins, out_range, bins)
    torch.manual_seed(22)
    assert dei.eis_between_groups(lin, top, groups, **args) == pytest.approx(ref_groups, rel=1e-9, abs=1e-12)


def test_one_input_bin_gives_zero(dei):
    """in_bins=1: every input code is 0, X is one vector, EI = 0 exactly (wide outputs)."""
    lin, top, _ = _net(100, 100, "sigmoid", seed=7)
    assert dei.ei(lin, top, samples=3000, in_bins=1, out_bins=64, seed=4, **KW) == 0.0


def test_wide_layer_agrees_with_deep_ei(dei):
    """deep-ei 0.7.0 itself (a Python dict of 128-tuples) on a 128 -> 128 tanh layer, 64 bins,
    4000 samples, rng="torch": the same value to 1e-9 (tests/test_deep_ei_agreement.py's
    tolerance)."""
    deep_ei = pytest.importorskip("deep_ei")
    lin, top, _ = _net(128, 128, "tanh", seed=9)
    torch.manual_seed(23)
    ref = deep_ei.ei(lin, top, samples=4000, in_range=(0, 1), out_range=(-1, 1), in_bins=64, out_bins=64)
    torch.manual_seed(23)
    got = dei.ei(lin, top, samples=4000, in_range=(0, 1), out_range=(-1, 1), in_bins=64, out_bins=64,
                 rng="torch", progress=False)
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)


def _row_bytes(words):
    from deep_ei_fast.engine.vector_counts import ROW_COST
    return ROW_COST * 8 * (words + 1)


@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_wide_tables_in_several_passes(dei, monkeypatch, rng):
    """A 100 -> 100 table (10 + 10 words a row at 64 bins) under a bound of 500 rows a pass:
    counted in key ranges over several passes (sorted), the same float as the unbounded count
    (all inputs distinct: not sorted)."""
    from deep_ei_fast.engine import vector_counts
    passes = []
    original = vector_counts.VectorCounts.marginal_counts

    def spy(self):
        result = original(self)
        passes.append(self.passes)
        return result

    monkeypatch.setattr(vector_counts.VectorCounts, "marginal_counts", spy)
    lin, top, _ = _net(100, 100, "sigmoid", seed=11)
    args = dict(samples=4000, batch_size=500, in_bins=64, out_bins=64, rng=rng, seed=None if rng == "torch" else 6)
    torch.manual_seed(24)
    whole = dei.ei(lin, top, **args, **KW)
    torch.manual_seed(24)
    parts = dei.ei(lin, top, memory_bound=500 * _row_bytes(20), **args, **KW)
    assert parts == whole
    assert passes[0] == 1 and passes[1] > 4, passes


# ------------------------------------------------------------------------------------------
# the count without sorting, at the table's level
# ------------------------------------------------------------------------------------------
def _pieces(counts):
    """{name: the concatenated count vector} of VectorCounts.marginal_counts' first group."""
    total, pieces = counts.marginal_counts()[0]
    vectors = {}
    for name, piece in pieces:
        vectors.setdefault(name, []).append(piece.contiguous())
    return total, {name: torch.cat(v) for name, v in vectors.items()}


def _vector_counts(n_in, n_out, bins, distinct_guess, blocks):
    from deep_ei_fast.engine.vector_counts import VectorCounts
    counts = VectorCounts((0, 1), bins, (0, 1), bins, n_in, n_out, True)
    if not distinct_guess:
        for table in counts.tables:
            table.bins = None  # never tries the count without sorting
    for x, y in blocks:
        counts.add(x, y)
    return counts


@pytest.mark.parametrize("n_in,n_out,bins,duplicate", [(30, 6, 8, False), (30, 6, 8, True), (40, 40, 8, False),
                                                       (40, 40, 8, True), (100, 100, 64, False)])
def test_unsorted_count_equals_sorted_table(n_in, n_out, bins, duplicate):
    """The count vectors of a table whose inputs are all distinct, counted without sorting,
    equal the sorted table's, piece for piece and in order; with one input vector repeated the
    count without sorting is refused and the sorted table counts it (H(X) loses that pair)."""
    from deep_ei_fast.estimators.plugin import vector_mi_bits
    g = torch.Generator().manual_seed(n_in + n_out + duplicate)
    blocks = []
    for size in (3000, 2000, 4000):
        x = torch.rand(n_in, size, generator=g)
        y = torch.rand(n_out, size, generator=g) ** 3  # uneven: many equal Y at 8 bins
        blocks.append((x, y))
    if duplicate:
        blocks[2][0][:, 17] = blocks[0][0][:, 5]
    unsorted = _vector_counts(n_in, n_out, bins, True, blocks)
    sorted_ = _vector_counts(n_in, n_out, bins, False, blocks)
    total_u, pieces_u = _pieces(unsorted)
    total_s, pieces_s = _pieces(sorted_)
    assert total_u == total_s == 9000
    for name in ("x", "y", "xy"):
        assert torch.equal(pieces_u[name], pieces_s[name]), name
    assert (pieces_u["x"].numel() == 9000 - 1) == duplicate
    assert vector_mi_bits(_vector_counts(n_in, n_out, bins, True, blocks).marginal_counts()[0]) == \
        vector_mi_bits(_vector_counts(n_in, n_out, bins, False, blocks).marginal_counts()[0])
    # the tables were left unsorted exactly when every input was distinct
    assert (unsorted.tables[0].live.unique is None) == (not duplicate)


@pytest.mark.parametrize("carry", [0, 1, 16383, 16384, 20000])
@pytest.mark.parametrize("n", [1, 2, 16383, 16384, 16385, 50000])
def test_entropy_sum_of_a_repeated_piece(carry, n):
    """A piece given as an expanded tensor (one value repeated, as the count without sorting
    hands over its ones) gives the float of the same piece materialized, after any carry."""
    from deep_ei_fast.estimators.plugin import EntropySum
    g = torch.Generator().manual_seed(carry + n)
    before = torch.randint(1, 5, (carry,), generator=g)
    total = int(before.sum()) + 3 * n + 3
    expanded, materialized = EntropySum(total), EntropySum(total)
    for entropy, piece in ((expanded, torch.full((1,), 3).expand(n)), (materialized, torch.full((n,), 3))):
        entropy.add(before)
        entropy.add(piece)
        entropy.add(torch.tensor([1, 2]))
    assert expanded.bits() == materialized.bits()
    assert np.isfinite(expanded.bits())
