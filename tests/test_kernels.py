"""The engine ops of csrc/OPS.md (torch.ops.deep_ei_fast.*) against independent oracles:
tests/torch_reference.py (plain torch), tests/philox_numpy.py (numpy Philox4x32-10),
fast_histogram and scikit-learn."""
import math

import numpy as np
import pytest
import torch
from fast_histogram import histogram2d
from hypothesis import given, settings, strategies as st
from sklearn.metrics import mutual_info_score

import torch_reference as R
from philox_numpy import philox4x32_10, philox_uniform

INT32_MAX = 2**31 - 1

# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------
finite_ranges = st.tuples(
    st.floats(-20, 20, allow_nan=False, allow_infinity=False),
    st.floats(1e-3, 40, allow_nan=False, allow_infinity=False),
).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def values_for_binning(draw, max_n=5, max_s=60):
    """(values float32 [n, S], lo [n], hi [n], bins [n]) with many edge cases: values exactly
    on bin edges, on lo/hi and on the widened lo'/hi', out of range, +-inf, NaN."""
    n = draw(st.integers(1, max_n))
    S = draw(st.integers(1, max_s))
    big = draw(st.booleans())
    bins = [draw(st.integers(1, 300 if big else 255)) for _ in range(n)]
    rngs = [draw(finite_ranges) for _ in range(n)]
    rows = []
    for j in range(n):
        lo, hi = rngs[j]
        b = bins[j]
        lo_w, hi_w = lo - 1e-6, hi + 1e-6
        specials = [lo, hi, lo_w, hi_w, np.nextafter(lo_w, -np.inf), np.nextafter(hi_w, -np.inf),
                    math.inf, -math.inf, math.nan, lo - 1.0, hi + 1.0]
        edge = st.integers(0, b).map(lambda k, lo=lo, hi=hi, b=b: lo + (hi - lo) * k / b)
        edge_w = st.integers(0, b).map(lambda k, lo=lo_w, hi=hi_w, b=b: lo + (hi - lo) * k / b)
        inside = st.floats(lo - 0.5, hi + 0.5, allow_nan=False)
        elem = st.one_of(inside, edge, edge_w, st.sampled_from(specials))
        rows.append(draw(st.lists(elem, min_size=S, max_size=S)))
    values = torch.tensor(rows, dtype=torch.float32)
    lo = torch.tensor([r[0] for r in rngs], dtype=torch.float64)
    hi = torch.tensor([r[1] for r in rngs], dtype=torch.float64)
    return values, lo, hi, torch.tensor(bins, dtype=torch.int32)


# ------------------------------------------------------------------------------------------
# the reference itself agrees with fast_histogram (so that it is a valid oracle)
# ------------------------------------------------------------------------------------------
@given(values_for_binning(max_n=2))
def test_reference_binning_matches_fast_histogram(case):
    values, lo, hi, bins = case
    x = values[0].double().numpy()
    y = values[-1].double().numpy()
    bx, by = int(bins[0]), int(bins[-1])
    rng = ((lo[0].item() - 1e-6, hi[0].item() + 1e-6), (lo[-1].item() - 1e-6, hi[-1].item() + 1e-6))
    fh = histogram2d(x, y, bins=(bx, by), range=rng)
    cx = R.pairwise_codes(values[0:1].T, lo[0:1], hi[0:1], bins[0:1])
    cy = R.pairwise_codes(values[-1:].T, lo[-1:], hi[-1:], bins[-1:])
    ref = R.pair_histograms(cx, cy, bx, by)[0, 0]
    assert np.array_equal(ref.numpy(), fh.astype(np.int64))


# ------------------------------------------------------------------------------------------
# philox_uniform_
# ------------------------------------------------------------------------------------------
def test_philox_numpy_oracle_known_answers():
    # Random123 kat_vectors for philox4x32_10: validates the numpy oracle itself
    assert [int(w) for w in philox4x32_10(0, 0, 0, 0, 0, 0)] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert [int(w) for w in philox4x32_10(*([0xFFFFFFFF] * 6))] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert [int(w) for w in philox4x32_10(0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0)] == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


@settings(max_examples=40)
@given(
    seed=st.one_of(st.integers(0, 2**63 - 1), st.integers(-(2**63), -1)),
    sample_start=st.one_of(st.integers(0, 1000), st.integers(2**32 - 40, 2**32 + 40), st.integers(0, 2**40)),
    neuron_start=st.integers(0, 70),
    n=st.integers(1, 9),
    S=st.integers(1, 50),
    rng=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0), (-3.25, 0.1)]),
)
def test_philox_uniform_matches_numpy_oracle(ops, seed, sample_start, neuron_start, n, S, rng):
    lo, hi = rng
    out = torch.empty((n, S), dtype=torch.float32)
    ops.philox_uniform_(out, seed, sample_start, neuron_start, lo, hi)
    expected = philox_uniform(seed, sample_start, neuron_start, n, S, lo, hi)
    assert np.array_equal(out.numpy(), expected)


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**63 - 1),
    n=st.integers(1, 12),
    S=st.integers(2, 300),
    data=st.data(),
)
def test_philox_uniform_independent_of_splits(ops, seed, n, S, data):
    lo, hi = -1.0, 1.0
    full = torch.empty((n, S), dtype=torch.float32)
    ops.philox_uniform_(full, seed, 0, 0, lo, hi)
    # split samples at arbitrary points and neurons at arbitrary (not multiple-of-4) points
    s_cut = data.draw(st.integers(1, S - 1))
    j_cut = data.draw(st.integers(0, n))
    pieces = torch.empty_like(full)
    for (s0, s1) in [(0, s_cut), (s_cut, S)]:
        for (j0, j1) in [(0, j_cut), (j_cut, n)]:
            if j1 > j0:
                blk = torch.empty((j1 - j0, s1 - s0), dtype=torch.float32)
                ops.philox_uniform_(blk, seed, s0, j0, lo, hi)
                pieces[j0:j1, s0:s1] = blk
    assert torch.equal(full, pieces)


def test_philox_uniform_thread_count_independent(ops, restore_threads):
    a = torch.empty((7, 20001), dtype=torch.float32)
    b = torch.empty_like(a)
    torch.set_num_threads(1)
    ops.philox_uniform_(a, 123, 5, 0, 0.0, 1.0)
    torch.set_num_threads(2)
    ops.philox_uniform_(b, 123, 5, 0, 0.0, 1.0)
    assert torch.equal(a, b)


@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0)])
def test_philox_uniform_range(ops, lo, hi):
    out = torch.empty((8, 50000), dtype=torch.float32)
    ops.philox_uniform_(out, 99, 0, 0, lo, hi)
    assert torch.isfinite(out).all()
    assert out.min().item() >= lo and out.max().item() <= hi
    # the extremes are approached: with 4e5 draws the min/max lie within 1e-4 of the ends
    # except with probability 2 * (1 - 1e-4)^4e5 ~ 1e-17
    assert out.min().item() < lo + 1e-4 * (hi - lo)
    assert out.max().item() > hi - 1e-4 * (hi - lo)
    # different seeds give different streams
    other = torch.empty_like(out)
    ops.philox_uniform_(other, 100, 0, 0, lo, hi)
    assert not torch.equal(out, other)


def test_philox_uniform_is_uniform(ops):
    n, S = 4, 2**18
    N = n * S
    out = torch.empty((n, S), dtype=torch.float32)
    ops.philox_uniform_(out, 2024, 0, 0, 0.0, 1.0)
    u = out.double().flatten()
    # mean: Var(U) = 1/12, so the sample mean has sd 1/sqrt(12 N); 6 sigma -> false alarm 2e-9
    assert abs(u.mean().item() - 0.5) < 6 / math.sqrt(12 * N)
    # chi-square over 64 equal cells (u is k * 2^-24, so cells of 2^18 grid points each are
    # exactly equiprobable): under H0 the statistic ~ chi2(63), mean 63, sd sqrt(126) = 11.2;
    # the bound 63 + 10 sd = 175 has tail probability < 1e-15.
    k = 64
    counts = torch.bincount((u * k).floor().long(), minlength=k).double()
    chi2 = (((counts - N / k) ** 2) / (N / k)).sum().item()
    assert chi2 < 63 + 10 * math.sqrt(126)
    # per neuron as well (each neuron is a different lane / counter word): 6 sigma on each mean
    for j in range(n):
        assert abs(out[j].double().mean().item() - 0.5) < 6 / math.sqrt(12 * S)
    # neighbouring neurons are uncorrelated: |corr| has sd 1/sqrt(S); 6 sigma bound
    for j in range(n - 1):
        c = torch.corrcoef(out[j : j + 2].double())[0, 1].item()
        assert abs(c) < 6 / math.sqrt(S)


# ------------------------------------------------------------------------------------------
# sample_linear_layer_
# ------------------------------------------------------------------------------------------
def _linear_reference(x, w, b, act):
    """Sequential float32 accumulation in increasing k order, bias last (numpy float32)."""
    x = x.numpy()
    w = w.numpy()
    n_out, n_in = w.shape
    z = np.zeros((n_out, x.shape[1]), dtype=np.float32)
    for o in range(n_out):
        acc = x[0] * w[o, 0]
        for k in range(1, n_in):
            acc = (acc + (x[k] * w[o, k]).astype(np.float32)).astype(np.float32)
        if b is not None:
            acc = (acc + b.numpy()[o]).astype(np.float32)
        z[o] = acc
    return torch.from_numpy(z)


@settings(max_examples=30)
@given(
    n_in=st.integers(1, 9),
    n_out=st.integers(1, 6),
    S=st.integers(1, 80),
    act=st.sampled_from([0, 1, 2, 3]),
    with_bias=st.booleans(),
    seed=st.integers(0, 2**40),
    sample_start=st.integers(0, 10**6),
    rng=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-10.0, 10.0)]),
    wseed=st.integers(0, 1000),
)
def test_sample_linear_layer(ops, n_in, n_out, S, act, with_bias, seed, sample_start, rng, wseed):
    g = torch.Generator().manual_seed(wseed)
    w = (torch.randn(n_out, n_in, generator=g) * 2).contiguous()
    b = torch.randn(n_out, generator=g) if with_bias else None
    x = torch.empty((n_in, S), dtype=torch.float32)
    y = torch.empty((n_out, S), dtype=torch.float32)
    ops.sample_linear_layer_(x, y, w, b, act, seed, sample_start, rng[0], rng[1])
    x_ref = torch.empty_like(x)
    ops.philox_uniform_(x_ref, seed, sample_start, 0, rng[0], rng[1])
    assert torch.equal(x, x_ref)
    assert np.array_equal(x.numpy(), philox_uniform(seed, sample_start, 0, n_in, S, rng[0], rng[1]))
    z = _linear_reference(x, w, b, act)
    if act == 0:
        assert torch.equal(y, z)
    elif act == 3:
        assert torch.equal(y, torch.clamp(z, min=0))
    elif act == 1:
        # 1/(1+exp(-z)) in float32: libm expf vs torch's vectorised exp may differ by an ulp
        torch.testing.assert_close(y, 1 / (1 + torch.exp(-z)), rtol=4e-7, atol=1e-7)
    else:
        torch.testing.assert_close(y, torch.tanh(z), rtol=4e-7, atol=1e-7)


def test_sample_linear_layer_split_independent(ops, restore_threads):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 7, generator=g)
    b = torch.randn(5, generator=g)
    S = 1003
    x = torch.empty((7, S)); y = torch.empty((5, S))
    torch.set_num_threads(2)
    ops.sample_linear_layer_(x, y, w, b, 1, 77, 0, 0.0, 1.0)
    torch.set_num_threads(1)
    for s0, s1 in [(0, 1), (1, 500), (500, S)]:
        xs = torch.empty((7, s1 - s0)); ys = torch.empty((5, s1 - s0))
        ops.sample_linear_layer_(xs, ys, w, b, 1, 77, s0, 0.0, 1.0)
        assert torch.equal(xs, x[:, s0:s1])
        assert torch.equal(ys, y[:, s0:s1])


# ------------------------------------------------------------------------------------------
# pairwise_codes_
# ------------------------------------------------------------------------------------------
@given(values_for_binning())
def test_pairwise_codes(ops, case):
    values, lo, hi, bins = case
    use_u8 = int(bins.max()) < 255
    drop = int(bins.max())
    ref = R.pairwise_codes(values.T, lo, hi, bins.long()).T  # [n, S], -1 = dropped
    ref = torch.where(ref < 0, torch.full_like(ref, drop), ref)
    for dtype in ([torch.uint8, torch.int32] if use_u8 else [torch.int32]):
        codes = torch.empty(values.shape, dtype=dtype)
        ops.pairwise_codes_(codes, values, lo - 1e-6, hi + 1e-6, bins, drop)
        assert torch.equal(codes.long(), ref), dtype


def test_pairwise_codes_specials(ops):
    lo, hi = torch.tensor([0.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    lo_w, hi_w = lo - 1e-6, hi + 1e-6
    v = torch.tensor([[0.0, 1.0, 0.5, -1e-7, 1.0000005, 1.1, -0.1, math.inf, -math.inf, math.nan]])
    codes = torch.empty(v.shape, dtype=torch.int32)
    ops.pairwise_codes_(codes, v, lo_w, hi_w, torch.tensor([10], dtype=torch.int32), 10)
    # 1.0 lies inside the widened range, in the last bin; values within 1e-6 outside too
    assert codes.tolist() == [[0, 9, 5, 0, 9, 10, 10, 10, 10, 10]]


# ------------------------------------------------------------------------------------------
# pair_histogram_accumulate_ and pairwise_mi
# ------------------------------------------------------------------------------------------
@settings(max_examples=40)
@given(values_for_binning(max_n=4, max_s=200), st.data())
def test_pair_histogram_accumulate(ops, case, data):
    values, lo, hi, bins = case
    n = values.shape[0]
    na = data.draw(st.integers(1, n))
    in_bins = int(bins[0])
    xb = torch.full((na,), in_bins, dtype=torch.int32)
    ob = bins[na:] if na < n else bins[:1]
    yv = values[na:] if na < n else values[:1]
    ylo, yhi = (lo[na:], hi[na:]) if na < n else (lo[:1], hi[:1])
    nb = yv.shape[0]
    RX, RY = in_bins + 1, int(ob.max()) + 1
    dtype = torch.uint8 if max(RX, RY) <= 256 else torch.int32
    xc = torch.empty((na, values.shape[1]), dtype=dtype)
    yc = torch.empty((nb, values.shape[1]), dtype=dtype)
    ops.pairwise_codes_(xc, values[:na].contiguous(), lo[:na] - 1e-6, hi[:na] + 1e-6, xb, RX - 1)
    ops.pairwise_codes_(yc, yv.contiguous(), ylo - 1e-6, yhi + 1e-6, ob, RY - 1)
    counts = torch.zeros((na, nb, RX, RY), dtype=torch.int32)
    ops.pair_histogram_accumulate_(counts, xc, yc)
    ops.pair_histogram_accumulate_(counts, xc, yc)  # accumulates on top of existing counts
    # oracle: every (a, b, i) counted once per call, drop codes included
    xl, yl = xc.long(), yc.long()
    ref = torch.zeros((na, nb, RX, RY), dtype=torch.int64)
    for a in range(na):
        for b in range(nb):
            flat = xl[a] * RY + yl[b]
            ref[a, b] = torch.bincount(flat, minlength=RX * RY).view(RX, RY)
    assert torch.equal(counts.long(), 2 * ref)
    # the in-range part equals the reference pair histogram (drop row/column excluded)
    rx = R.pairwise_codes(values[:na].T, lo[:na], hi[:na], in_bins)
    ry = R.pairwise_codes(yv.T, ylo, yhi, ob.long())
    h = R.pair_histograms(rx, ry, in_bins, ob.long())
    assert torch.equal(counts.long()[:, :, :in_bins, : RY - 1], 2 * h)
    # MI of the accumulated tables
    mi = ops.pairwise_mi(counts, in_bins, ob)
    assert mi.dtype == torch.float64 and mi.shape == (na, nb)
    for a in range(na):
        for b in range(nb):
            tab = counts[a, b, :in_bins, : int(ob[b])].numpy()
            if in_bins == 1 or int(ob[b]) == 1 or tab.sum() == 0:
                assert mi[a, b].item() == 0.0
            else:
                expect = mutual_info_score(None, None, contingency=tab) / math.log(2)
                # relative 1e-12; absolute 1e-13 bits of rounding noise on (nearly)
                # independent tables, either side (see test_pairwise_mi_vs_sklearn)
                assert mi[a, b].item() == pytest.approx(expect, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("in_bins, out_bins, nb, dtype", [
    (8, 8, 6, torch.uint8), (8, 8, 5, torch.uint8), (3, 15, 3, torch.int32), (40, 6, 4, torch.uint8),
    (64, 8, 2, torch.uint8),
])
def test_pair_histogram_joint_and_direct_paths(ops, in_bins, out_bins, nb, dtype):
    """Small tables count two output neurons per increment (joint codes, then marginals);
    larger ones count pair by pair. Both must give the bincount of every pair exactly, for even
    and odd numbers of output neurons, drop codes included."""
    g = torch.Generator().manual_seed(in_bins * 100 + nb)
    na, S = 3, 70_000
    RX, RY = in_bins + 1, out_bins + 1
    xc = torch.randint(0, RX, (na, S), generator=g).to(dtype)
    yc = torch.randint(0, RY, (nb, S), generator=g).to(dtype)
    yc[0, : S // 2] = 0  # a skewed neuron
    counts = torch.zeros((na, nb, RX, RY), dtype=torch.int32)
    ops.pair_histogram_accumulate_(counts, xc, yc)
    for a in range(na):
        for b in range(nb):
            ref = torch.bincount(xc[a].long() * RY + yc[b].long(), minlength=RX * RY).view(RX, RY)
            assert torch.equal(counts[a, b].long(), ref)


def test_pair_histogram_rejects_bad_codes(ops):
    counts = torch.zeros((1, 1, 3, 3), dtype=torch.int32)
    x = torch.tensor([[0, 1, 3]], dtype=torch.int32)  # 3 >= RX
    y = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    with pytest.raises(RuntimeError):
        ops.pair_histogram_accumulate_(counts, x, y)
    assert counts.sum().item() == 0  # checked before anything was counted


@st.composite
def count_tables(draw):
    na = draw(st.integers(1, 3))
    nb = draw(st.integers(1, 3))
    in_bins = draw(st.integers(1, 20))
    out_bins = [draw(st.integers(1, 20)) for _ in range(nb)]
    RX, RY = in_bins + 1, max(out_bins) + 1
    sparse = draw(st.booleans())
    big = draw(st.booleans())
    hi = 2**20 if big else 50
    seed = draw(st.integers(0, 10**6))
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, hi, (na, nb, RX, RY), generator=g, dtype=torch.int64)
    if sparse:
        c = c * (torch.rand(c.shape, generator=g) < 0.15)
    if draw(st.booleans()):  # a rank-one table: independent, MI exactly 0 in theory
        r = torch.randint(0, 30, (RX,), generator=g)
        s = torch.randint(0, 30, (RY,), generator=g)
        c[0, 0] = r[:, None] * s[None, :]
    if draw(st.booleans()):
        c[-1, -1] = 0  # an empty table
    return c.to(torch.int32), in_bins, torch.tensor(out_bins, dtype=torch.int32)


@settings(max_examples=60)
@given(count_tables())
def test_pairwise_mi_vs_sklearn(ops, case):
    counts, in_bins, out_bins = case
    mi = ops.pairwise_mi(counts, in_bins, out_bins)
    ref = R.mi_matrix_from_histograms(counts.long(), in_bins, out_bins.long())
    na, nb = counts.shape[:2]
    for a in range(na):
        for b in range(nb):
            tab = counts[a, b, :in_bins, : int(out_bins[b])].numpy()
            if in_bins == 1 or int(out_bins[b]) == 1 or tab.sum() == 0:
                expect = 0.0
            else:
                expect = mutual_info_score(None, None, contingency=tab) / math.log(2)
            # the kernel regroups scikit-learn's cell term as n*((log n - log pi) - (log pj -
            # log N)) and divides the sum by N once (OPS.md): relative 1e-12. An exactly
            # independent table, 0 in scikit-learn after its per-term flush, can keep terms of
            # rounding noise here: each log difference is off by a few ulps of log N (< 1e-14
            # for these counts) and the weights n/N sum to 1, so the total is < 1e-13 bits
            assert mi[a, b].item() == pytest.approx(expect, rel=1e-12, abs=1e-13)
            assert ref[a, b].item() == pytest.approx(expect, rel=1e-12, abs=1e-15)
            assert mi[a, b].item() >= 0.0


# ------------------------------------------------------------------------------------------
# vector_codes_
# ------------------------------------------------------------------------------------------
@st.composite
def vector_cases(draw):
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0)]) | finite_ranges.filter(lambda r: r[1] - r[0] > 0.01))
    bins = draw(st.integers(1, 300))
    n = draw(st.integers(1, 5))
    S = draw(st.integers(1, 60))
    w = hi - lo
    edge = st.integers(-2, bins + 2).map(lambda k: lo + (hi - lo + 0.0001) * k / bins)
    elem = st.one_of(
        st.floats(lo - 2 * w, hi + 2 * w, allow_nan=False),
        edge,
        st.sampled_from([lo, hi, hi + 0.0001, math.inf, -math.inf, math.nan]),
    )
    vals = draw(st.lists(st.lists(elem, min_size=S, max_size=S), min_size=n, max_size=n))
    return torch.tensor(vals, dtype=torch.float32), lo, hi, bins


@given(vector_cases())
def test_vector_codes_bit_identical_to_torch(ops, case):
    values, lo, hi, bins = case
    codes = torch.empty(values.shape, dtype=torch.int32)
    ops.vector_codes_(codes, values, lo, hi, bins)
    finite = torch.isfinite(values)
    ref = R.vector_codes(torch.where(finite, values, torch.zeros_like(values)), lo, hi, bins)
    ref = torch.where(finite, ref, torch.full_like(ref, INT32_MAX))
    assert torch.equal(codes, ref)


@st.composite
def vector_key_cases(draw):
    in_bins = draw(st.integers(1, 70))
    out_bins = draw(st.integers(1, 70))
    n_in, n_out, S = draw(st.integers(1, 9)), draw(st.integers(1, 7)), draw(st.integers(1, 3000))
    g = torch.Generator().manual_seed(draw(st.integers(0, 10**6)))
    x = torch.rand((n_in, S), generator=g)  # inputs in [0, 1): codes in [0, in_bins)
    # outputs spill over both ends of (0, 1): some samples are dropped (codes >= out_bins),
    # below-range ones keep negative codes, which need the wide (32-bit, offset) fields
    y = torch.rand((n_out, S), generator=g) * 1.4 - 0.2
    in_index = draw(st.lists(st.integers(0, n_in - 1), max_size=n_in))
    out_index = draw(st.lists(st.integers(0, n_out - 1), max_size=n_out))
    return x, y, in_bins, out_bins, in_index, out_index


@settings(max_examples=40)
@given(vector_key_cases())
def test_vector_keys_equals_codes_filter_and_packing(ops, case):
    """The fused op equals vector_codes_ -> whole-vector filter -> pack_code_rows, composed."""
    x, y, in_bins, out_bins, in_index, out_index = case
    in_bits = max(1, (in_bins - 1).bit_length())
    keys = ops.vector_keys(x, y, 0.0, 1.0, in_bins, 0.0, 1.0, out_bins, in_bits, 32, 2**31,
                           torch.tensor(in_index, dtype=torch.int64),
                           torch.tensor(out_index, dtype=torch.int64))
    x_codes = torch.empty(x.shape, dtype=torch.int32)
    y_codes = torch.empty(y.shape, dtype=torch.int32)
    ops.vector_codes_(x_codes, x, 0.0, 1.0, in_bins)
    ops.vector_codes_(y_codes, y, 0.0, 1.0, out_bins)
    keep = (x_codes < in_bins).all(0) & (y_codes < out_bins).all(0)
    kept_x, kept_y = x_codes[:, keep], y_codes[:, keep]

    def packed(codes, index, bits, offset):
        if not index:
            return torch.zeros((codes.shape[1], 1), dtype=torch.int64)
        return _pack_reference(codes[index], bits, offset)

    expected = torch.cat([packed(kept_x, in_index, in_bits, 0),
                          packed(kept_y, out_index, 32, 2**31)], dim=1)
    assert torch.equal(keys, expected)


def test_vector_keys_rejects_codes_that_do_not_fit(ops):
    y = torch.tensor([[-0.5]])  # a negative code does not fit an unsigned, un-offset field
    with pytest.raises(RuntimeError):
        ops.vector_keys(torch.tensor([[0.5]]), y, 0.0, 1.0, 8, 0.0, 1.0, 8, 3, 3, 0,
                        torch.tensor([0]), torch.tensor([0]))


# ------------------------------------------------------------------------------------------
# pack_code_rows, sort_unique_rows, prefix_counts
# ------------------------------------------------------------------------------------------
def _pack_reference(codes, bits, offset):
    n, S = codes.shape
    per = 64 // bits
    W = -(-n // per)
    out = []
    for i in range(S):
        words = [0] * W
        for j in range(n):
            f = int(codes[j, i]) + offset
            assert 0 <= f < 2**bits
            words[j // per] |= f << ((j % per) * bits)
        out.append([w - 2**64 if w >= 2**63 else w for w in words])
    return torch.tensor(out, dtype=torch.int64).reshape(S, W)


@st.composite
def code_matrices(draw):
    bits = draw(st.sampled_from([1, 2, 3, 5, 8, 9, 16, 21, 32]))
    offset = draw(st.integers(0, 3))
    n = draw(st.integers(1, 12))
    S = draw(st.integers(1, 80))
    top = min(2**bits - 1 - offset, 2**31 - 1)  # codes are int32
    hi = min(top, 4) if draw(st.booleans()) else top
    lo = -offset
    if hi < lo:
        hi = lo
    g = torch.Generator().manual_seed(draw(st.integers(0, 10**6)))
    codes = torch.randint(lo, hi + 1, (n, S), generator=g, dtype=torch.int64)
    if S > 2 and draw(st.booleans()):  # repeated rows
        codes[:, S // 2 :] = codes[:, : S - S // 2].clone()
    return codes.to(torch.int32), bits, offset


@given(code_matrices())
def test_pack_code_rows(ops, case):
    codes, bits, offset = case
    packed = ops.pack_code_rows(codes, bits, offset)
    assert packed.dtype == torch.int64
    assert torch.equal(packed, _pack_reference(codes, bits, offset))


def test_pack_code_rows_rejects_out_of_field(ops):
    codes = torch.tensor([[0, 4]], dtype=torch.int32)
    with pytest.raises(RuntimeError):
        ops.pack_code_rows(codes, 2, 0)  # 4 does not fit in 2 bits
    with pytest.raises(RuntimeError):
        ops.pack_code_rows(torch.tensor([[-2]], dtype=torch.int32), 4, 1)  # -2 + 1 < 0


def _unsigned(row):
    return tuple(int(w) & 0xFFFFFFFFFFFFFFFF for w in row)


@settings(max_examples=50)
@given(
    M=st.integers(1, 300),
    W=st.integers(1, 4),
    kind=st.sampled_from(["small", "full", "constant_words", "negative"]),
    weighted=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_sort_unique_rows_and_prefix_counts(ops, M, W, kind, weighted, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == "small":
        keys = torch.randint(0, 4, (M, W), generator=g, dtype=torch.int64)
    elif kind == "full":
        keys = torch.randint(-(2**63), 2**63 - 1, (M, W), generator=g, dtype=torch.int64)
        keys[M // 2 :] = keys[: M - M // 2].clone()
    elif kind == "constant_words":
        keys = torch.randint(0, 3, (M, W), generator=g, dtype=torch.int64) << 40
        keys[:, 0] = 7
    else:  # words with the sign bit set must sort after the others (unsigned order)
        keys = torch.randint(0, 3, (M, W), generator=g, dtype=torch.int64)
        keys[:, 0] = torch.where(torch.rand(M, generator=g) < 0.5, torch.tensor(-1), torch.tensor(5))
    weights = torch.randint(1, 1000, (M,), generator=g, dtype=torch.int64) if weighted else None
    uniq, counts = ops.sort_unique_rows(keys, weights)
    ref = {}
    for i in range(M):
        k = _unsigned(keys[i])
        ref[k] = ref.get(k, 0) + (int(weights[i]) if weighted else 1)
    order = sorted(ref)
    assert [_unsigned(r) for r in uniq] == order
    assert counts.tolist() == [ref[k] for k in order]
    for p in range(0, W + 1):
        pc = ops.prefix_counts(uniq, counts, p)
        groups = {}
        for k in order:
            groups.setdefault(k[:p], 0)
            groups[k[:p]] += ref[k]
        assert pc.tolist() == [groups[k] for k in sorted(groups)]


@pytest.mark.parametrize("varying_bits, duplicates", [(93, False), (40, True), (20, True), (130, False)])
def test_sort_unique_rows_large_inputs(ops, varying_bits, duplicates):
    """Hundreds of thousands of rows: the first radix pass leaves buckets of hundreds of rows,
    which are sorted by further most-significant-digit splits (small-M hypothesis cases rarely
    reach them). Compared with torch.unique on non-negative keys (where signed order is the
    unsigned one)."""
    g = torch.Generator().manual_seed(varying_bits)
    M, W = 300_000, 3
    keys = torch.randint(0, 2**62, (M, W), generator=g, dtype=torch.int64)
    remaining = varying_bits
    for w in range(W):  # word 0 most significant; keep `varying_bits` low bits in all
        bits = max(0, min(62, remaining - 62 * (W - 1 - w)))
        keys[:, w] &= (1 << bits) - 1
    if duplicates:
        keys[M // 3:] = keys[torch.randint(0, M // 3, (M - M // 3,), generator=g)]
    weights = torch.randint(1, 5, (M,), generator=g, dtype=torch.int64)
    uniq, counts = ops.sort_unique_rows(keys, weights)
    ref_uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    ref_counts = torch.zeros(len(ref_uniq), dtype=torch.int64).index_add_(0, inverse, weights)
    assert torch.equal(uniq, ref_uniq) and torch.equal(counts, ref_counts)


@settings(max_examples=30)
@given(code_matrices())
def test_pack_sort_unique_vs_torch_unique(ops, case):
    codes, bits, offset = case
    n = codes.shape[0]
    packed = ops.pack_code_rows(codes, bits, offset)
    uniq, counts = ops.sort_unique_rows(packed, None)
    _, ref_counts = torch.unique(codes.T, dim=0, return_counts=True)
    # same number of distinct code vectors, same multiset of counts, same entropy
    assert uniq.shape[0] == ref_counts.shape[0]
    assert sorted(counts.tolist()) == sorted(ref_counts.tolist())
    assert counts.sum().item() == codes.shape[1]
    assert R.entropy_bits(counts) == pytest.approx(R.entropy_bits(ref_counts), rel=1e-12, abs=1e-15)
    # counting the first k neurons = prefix of the packed words when k fills whole words
    per = 64 // bits
    if n > per:
        pc = ops.prefix_counts(uniq, counts, 1)
        _, ref_prefix = torch.unique(codes[:per].T, dim=0, return_counts=True)
        assert sorted(pc.tolist()) == sorted(ref_prefix.tolist())
