"""The engine ops of csrc/OPS.md, called through their typed wrappers (deep_ei_fast/engine/ops.py),
against independent oracles: tests/torch_reference.py (plain torch), tests/philox_numpy.py
(numpy Philox4x32-10), fast_histogram and scikit-learn.

Each op has one list of cases (hypothesis strategies for the general inputs, fixed lists for
the sizes and extremes that exercise particular kernel paths), and every case runs on each
device of helpers.devices(): "cpu", and "cuda" where a GPU and the CUDA build exist (skipped
otherwise, with the reason). A case checks the oracle on every device; on CUDA, helpers.run_op
also runs the same call on the CPU and requires bit-identical results (OPS.md: each CUDA
kernel computes the CPU's function exactly). Tests with no device parameter check the oracles
themselves or the CPU thread pool.
"""
import functools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from fast_histogram import histogram2d
from hypothesis import given, settings, strategies as st
from sklearn.metrics import mutual_info_score

from deep_ei_fast.engine import ops

import torch_reference as R
from helpers import devices, run_op
from philox_numpy import philox4x32_10, philox_uniform

INT32_MAX = 2**31 - 1
DEVICES = devices()
on_each_device = pytest.mark.parametrize("device", DEVICES)


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


def philox(device, n, S, seed, sample_start, neuron_start, lo, hi):
    """philox_uniform_ into a fresh [n, S] block on `device`, returned on the CPU."""
    (out, *_), _ = run_op(device, ops.philox_uniform_, torch.empty((n, S), dtype=torch.float32),
                          seed, sample_start, neuron_start, lo, hi)
    return out


@on_each_device
@settings(max_examples=40)
@given(
    seed=st.one_of(st.integers(0, 2**63 - 1), st.integers(-(2**63), -1)),
    sample_start=st.one_of(st.integers(0, 1000), st.integers(2**32 - 40, 2**32 + 40), st.integers(0, 2**40)),
    neuron_start=st.integers(0, 70),
    n=st.integers(1, 9),
    S=st.integers(1, 50),
    rng=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0), (-3.25, 0.1)]),
)
def test_philox_uniform_matches_numpy_oracle(device, seed, sample_start, neuron_start, n, S, rng):
    lo, hi = rng
    out = philox(device, n, S, seed, sample_start, neuron_start, lo, hi)
    expected = philox_uniform(seed, sample_start, neuron_start, n, S, lo, hi)
    assert np.array_equal(out.numpy(), expected)


@on_each_device
@pytest.mark.parametrize("seed", [0, 123456789, -5, 2**63 - 1])
@pytest.mark.parametrize("sample_start,neuron_start,n,S", [
    (0, 0, 7, 1000), (2**32 - 300, 3, 9, 700), (12345, 70, 1, 1), (2**40, 1, 33, 4097)])
def test_philox_uniform_blocks(device, seed, sample_start, neuron_start, n, S):
    """Blocks larger than the hypothesis cases (many 4-neuron groups, a carry into the high
    counter word), written contiguously and through a transposed (non-contiguous) view."""
    expected = philox_uniform(seed, sample_start, neuron_start, n, S, -10.0, 10.0)
    out = philox(device, n, S, seed, sample_start, neuron_start, -10.0, 10.0)
    assert np.array_equal(out.numpy(), expected)
    view = torch.empty((S, n), device=device).t()
    ops.philox_uniform_(view, seed, sample_start, neuron_start, -10.0, 10.0)
    assert np.array_equal(view.cpu().numpy(), expected)


@on_each_device
@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**63 - 1),
    n=st.integers(1, 12),
    S=st.integers(2, 300),
    data=st.data(),
)
def test_philox_uniform_independent_of_splits(device, seed, n, S, data):
    lo, hi = -1.0, 1.0
    full = philox(device, n, S, seed, 0, 0, lo, hi)
    # split samples at arbitrary points and neurons at arbitrary (not multiple-of-4) points
    s_cut = data.draw(st.integers(1, S - 1))
    j_cut = data.draw(st.integers(0, n))
    pieces = torch.empty_like(full)
    for (s0, s1) in [(0, s_cut), (s_cut, S)]:
        for (j0, j1) in [(0, j_cut), (j_cut, n)]:
            if j1 > j0:
                pieces[j0:j1, s0:s1] = philox(device, j1 - j0, s1 - s0, seed, s0, j0, lo, hi)
    assert torch.equal(full, pieces)


def test_philox_uniform_thread_count_independent(restore_threads):
    # the CPU thread pool only (torch.set_num_threads does not reach the CUDA kernels)
    a = torch.empty((7, 20001), dtype=torch.float32)
    b = torch.empty_like(a)
    torch.set_num_threads(1)
    ops.philox_uniform_(a, 123, 5, 0, 0.0, 1.0)
    torch.set_num_threads(2)
    ops.philox_uniform_(b, 123, 5, 0, 0.0, 1.0)
    assert torch.equal(a, b)


@on_each_device
@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0)])
def test_philox_uniform_range(device, lo, hi):
    out = philox(device, 8, 50000, 99, 0, 0, lo, hi)
    assert torch.isfinite(out).all()
    assert out.min().item() >= lo and out.max().item() <= hi
    # the extremes are approached: with 4e5 draws the min/max lie within 1e-4 of the ends
    # except with probability 2 * (1 - 1e-4)^4e5 ~ 1e-17
    assert out.min().item() < lo + 1e-4 * (hi - lo)
    assert out.max().item() > hi - 1e-4 * (hi - lo)
    # different seeds give different streams
    other = philox(device, 8, 50000, 100, 0, 0, lo, hi)
    assert not torch.equal(out, other)


@on_each_device
def test_philox_uniform_is_uniform(device):
    n, S = 4, 2**18
    N = n * S
    out = philox(device, n, S, 2024, 0, 0, 0.0, 1.0)
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
def _linear_reference(x, w, b):
    """z = w @ x + b as OPS.md orders it, in numpy float32: products and sums each rounded,
    k increasing, bias last (vectorised over outputs and samples, which changes no rounding)."""
    x, w = x.numpy(), w.numpy()
    n_out, n_in = w.shape
    z = np.zeros((n_out, x.shape[1]), dtype=np.float32)  # 0 + p == p exactly: no rounding
    for k in range(n_in):
        z = (z + (w[:, k : k + 1] * x[k][None, :]).astype(np.float32)).astype(np.float32)
    if b is not None:
        z = (z + b.numpy()[:, None]).astype(np.float32)
    return torch.from_numpy(z)


@functools.lru_cache(maxsize=8)
def philox_oracle(seed, sample_start, n, S, lo, hi):
    """The numpy oracle's noise, cached: the block cases share it over activations and biases."""
    return philox_uniform(seed, sample_start, 0, n, S, lo, hi)


def check_sample_linear_layer(device, n_in, n_out, S, w, b, act, seed, sample_start, lo, hi,
                              z=None):
    """x is the oracle's noise, y = act(z), z = _linear_reference(x, w, b) unless given."""
    (x, y, *_), _ = run_op(device, ops.sample_linear_layer_, torch.empty((n_in, S)),
                           torch.empty((n_out, S)), w, b, act, seed, sample_start, lo, hi)
    x_ref = philox(device, n_in, S, seed, sample_start, 0, lo, hi)
    assert torch.equal(x, x_ref)
    assert np.array_equal(x.numpy(), philox_oracle(seed, sample_start, n_in, S, lo, hi))
    if z is None:
        z = _linear_reference(x, w, b)
    if act == 0:
        assert torch.equal(y, z)
    elif act == 3:
        assert torch.equal(y, torch.clamp(z, min=0))
    elif act == 1:
        # 1/(1+exp(-z)) in float32: libm expf vs torch's vectorised exp may differ by an ulp
        torch.testing.assert_close(y, 1 / (1 + torch.exp(-z)), rtol=4e-7, atol=1e-7)
    else:
        torch.testing.assert_close(y, torch.tanh(z), rtol=4e-7, atol=1e-7)


@on_each_device
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
def test_sample_linear_layer(device, n_in, n_out, S, act, with_bias, seed, sample_start, rng, wseed):
    g = torch.Generator().manual_seed(wseed)
    w = (torch.randn(n_out, n_in, generator=g) * 2).contiguous()
    b = torch.randn(n_out, generator=g) if with_bias else None
    check_sample_linear_layer(device, n_in, n_out, S, w, b, act, seed, sample_start, *rng)


@on_each_device
@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("n_in,n_out,S", [(1, 1, 1), (3, 5, 1000), (37, 70, 3001), (256, 129, 2048), (0, 4, 10)])
@pytest.mark.parametrize("weights", ["gaussian", "integer"])
def test_sample_linear_layer_blocks(device, act, n_in, n_out, S, weights):
    """Layers wider than the hypothesis cases (several 64 x 64 CUDA tiles, ragged edges, no
    inputs at all), with and without bias."""
    w, b = block_layer(n_in, n_out, weights)
    for bias in (b, None):
        z = block_reference(n_in, n_out, S, weights, bias is not None)
        check_sample_linear_layer(device, n_in, n_out, S, w, bias, act, 99, 17, -1.0, 1.0, z=z)


@functools.lru_cache(maxsize=4)
def block_layer(n_in, n_out, weights):
    g = torch.Generator().manual_seed(n_in * 1000 + n_out)
    if weights == "gaussian":
        return torch.randn(n_out, n_in, generator=g) * 2, torch.randn(n_out, generator=g)
    # exact products and sums: any order gives the same value
    return (torch.randint(-3, 4, (n_out, n_in), generator=g).float(),
            torch.randint(-2, 3, (n_out,), generator=g).float())


@functools.lru_cache(maxsize=4)
def block_reference(n_in, n_out, S, weights, with_bias):
    """z of a block case, shared by its four activations (the oracle's x, asserted equal)."""
    w, b = block_layer(n_in, n_out, weights)
    x = torch.from_numpy(philox_oracle(99, 17, n_in, S, -1.0, 1.0))
    return _linear_reference(x, w, b if with_bias else None)


@on_each_device
def test_sample_linear_layer_split_independent(device, restore_threads):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 7, generator=g)
    b = torch.randn(5, generator=g)
    S = 1003

    def block(s0, s1):
        (x, y, *_), _ = run_op(device, ops.sample_linear_layer_, torch.empty((7, s1 - s0)),
                               torch.empty((5, s1 - s0)), w, b, 1, 77, s0, 0.0, 1.0)
        return x, y

    torch.set_num_threads(2)
    x, y = block(0, S)
    torch.set_num_threads(1)
    for s0, s1 in [(0, 1), (1, 500), (500, S)]:
        xs, ys = block(s0, s1)
        assert torch.equal(xs, x[:, s0:s1])
        assert torch.equal(ys, y[:, s0:s1])


# ------------------------------------------------------------------------------------------
# pairwise_codes_
# ------------------------------------------------------------------------------------------
def expected_pairwise_codes(values, lo, hi, bins, drop):
    """torch_reference's fast_histogram codes of [n, S] values, `drop` where dropped."""
    ref = R.pairwise_codes(values.T, lo, hi, bins.long()).T
    return torch.where(ref < 0, torch.full_like(ref, drop), ref)


def pairwise_codes(device, values, lo, hi, bins, drop, dtype):
    (codes, *_), _ = run_op(device, ops.pairwise_codes_, torch.empty(values.shape, dtype=dtype),
                            values, lo - 1e-6, hi + 1e-6, bins, drop)
    return codes


@on_each_device
@given(values_for_binning())
def test_pairwise_codes(device, case):
    values, lo, hi, bins = case
    use_u8 = int(bins.max()) < 255
    drop = int(bins.max())
    ref = expected_pairwise_codes(values, lo, hi, bins, drop)
    for dtype in ([torch.uint8, torch.int32] if use_u8 else [torch.int32]):
        codes = pairwise_codes(device, values, lo, hi, bins, drop, dtype)
        assert torch.equal(codes.long(), ref), dtype


@on_each_device
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_pairwise_codes_block(device, dtype):
    """Six neurons of 5000 samples: every bin edge of each neuron, specials, 1 to 255 bins."""
    g = torch.Generator().manual_seed(1)
    n, S = 6, 5000
    lo = torch.linspace(-2, 0, n, dtype=torch.float64)
    hi = lo + torch.linspace(0.5, 3, n, dtype=torch.float64)
    values = (torch.rand((n, S), generator=g) * 5 - 3).float()
    values[:, :8] = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -2.0, 1.0, -1e-7, 0.9999999])
    bins = torch.tensor([1, 8, 64, 100, 255, 7], dtype=torch.int32)
    for j in range(n):  # values exactly on bin edges
        k = torch.arange(int(bins[j]) + 1, dtype=torch.float64)
        edges = (lo[j] + (hi[j] - lo[j]) * k / int(bins[j])).float()
        values[j, 8:8 + edges.numel()] = edges
    drop = int(bins.max())
    codes = pairwise_codes(device, values, lo, hi, bins, drop, dtype)
    assert torch.equal(codes.long(), expected_pairwise_codes(values, lo, hi, bins, drop))


@on_each_device
def test_pairwise_codes_specials(device):
    lo, hi = torch.tensor([0.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    v = torch.tensor([[0.0, 1.0, 0.5, -1e-7, 1.0000005, 1.1, -0.1, math.inf, -math.inf, math.nan]])
    codes = pairwise_codes(device, v, lo, hi, torch.tensor([10], dtype=torch.int32), 10, torch.int32)
    # 1.0 lies inside the widened range, in the last bin; values within 1e-6 outside too
    assert codes.tolist() == [[0, 9, 5, 0, 9, 10, 10, 10, 10, 10]]


# ------------------------------------------------------------------------------------------
# pair_histogram_accumulate_, pair_histogram_onehot_accumulate_ and pairwise_mi
# ------------------------------------------------------------------------------------------
HISTOGRAM_OPS = ["pair_histogram_accumulate_", "pair_histogram_onehot_accumulate_"]


def sklearn_mi_bits(table):
    """scikit-learn's plug-in MI of a contingency table, in bits; None for a single row or
    column or an empty table, whose MI pairwise_mi defines as exactly 0."""
    if table.shape[0] == 1 or table.shape[1] == 1 or table.sum() == 0:
        return None
    return mutual_info_score(None, None, contingency=table) / math.log(2)


def assert_mi_matches_sklearn(mi, counts, in_bins, out_bins):
    assert mi.dtype == torch.float64 and mi.shape == counts.shape[:2]
    for a in range(counts.shape[0]):
        for b in range(counts.shape[1]):
            expect = sklearn_mi_bits(counts[a, b, :in_bins, : int(out_bins[b])].numpy())
            if expect is None:
                assert mi[a, b].item() == 0.0
                continue
            # the kernel regroups scikit-learn's cell term as n*((log n - log pi) - (log pj -
            # log N)) and divides the sum by N once (OPS.md): relative 1e-12. An exactly
            # independent table, 0 in scikit-learn after its per-term flush, can keep terms of
            # rounding noise here: each log difference is off by a few ulps of log N (< 1e-14
            # for these counts) and the weights n/N sum to 1, so the total is < 1e-13 bits
            assert mi[a, b].item() == pytest.approx(expect, rel=1e-12, abs=1e-13)
            assert mi[a, b].item() >= 0.0


def bincount_pairs(x_codes, y_codes, RX, RY):
    """Oracle: [na, nb, RX, RY] int64 counts of every (a, b, x_codes[a, i], y_codes[b, i])."""
    xl, yl = x_codes.long(), y_codes.long()
    ref = torch.zeros((xl.shape[0], yl.shape[0], RX, RY), dtype=torch.int64)
    for a in range(xl.shape[0]):
        for b in range(yl.shape[0]):
            ref[a, b] = torch.bincount(xl[a] * RY + yl[b], minlength=RX * RY).view(RX, RY)
    return ref


def accumulate(device, op_name, counts, x_codes, y_codes):
    (counts, *_), _ = run_op(device, getattr(ops, op_name), counts, x_codes, y_codes)
    return counts


@on_each_device
@settings(max_examples=40)
@given(values_for_binning(max_n=4, max_s=200), st.data())
def test_pair_histogram_accumulate(device, case, data):
    values, lo, hi, bins = case
    n = values.shape[0]
    na = data.draw(st.integers(1, n))
    in_bins = int(bins[0])
    xb = torch.full((na,), in_bins, dtype=torch.int32)
    ob = bins[na:] if na < n else bins[:1]
    yv = values[na:] if na < n else values[:1]
    ylo, yhi = (lo[na:], hi[na:]) if na < n else (lo[:1], hi[:1])
    RX, RY = in_bins + 1, int(ob.max()) + 1
    dtype = torch.uint8 if max(RX, RY) <= 256 else torch.int32
    xc = pairwise_codes(device, values[:na].contiguous(), lo[:na], hi[:na], xb, RX - 1, dtype)
    yc = pairwise_codes(device, yv.contiguous(), ylo, yhi, ob, RY - 1, dtype)
    counts = torch.zeros((na, yv.shape[0], RX, RY), dtype=torch.int32)
    counts = accumulate(device, "pair_histogram_accumulate_", counts, xc, yc)
    # accumulates on top of existing counts
    counts = accumulate(device, "pair_histogram_accumulate_", counts, xc, yc)
    # oracle: every (a, b, i) counted once per call, drop codes included
    assert torch.equal(counts.long(), 2 * bincount_pairs(xc, yc, RX, RY))
    # the in-range part equals the reference pair histogram (drop row/column excluded)
    rx = R.pairwise_codes(values[:na].T, lo[:na], hi[:na], in_bins)
    ry = R.pairwise_codes(yv.T, ylo, yhi, ob.long())
    h = R.pair_histograms(rx, ry, in_bins, ob.long())
    assert torch.equal(counts.long()[:, :, :in_bins, : RY - 1], 2 * h)
    # MI of the accumulated tables
    _, mi = run_op(device, ops.pairwise_mi, counts, in_bins, ob)
    assert_mi_matches_sklearn(mi, counts, in_bins, ob)


def saturated_codes(n, S, bins, g):
    """Codes of saturated sigmoids: most samples in the first or last bin (atomic collisions)."""
    z = torch.randn((n, S), generator=g) * 8 + torch.randn((n, 1), generator=g) * 4
    return torch.clamp((torch.sigmoid(z) * bins).long(), max=bins - 1)


@on_each_device
@pytest.mark.parametrize("op_name", HISTOGRAM_OPS)
@pytest.mark.parametrize("na,nb,in_bins,out_bins,S,kind,dtype", [
    # small tables count two output neurons per CPU increment (joint codes, then marginals),
    # larger ones pair by pair: even and odd numbers of output neurons, a skewed neuron
    (3, 6, 8, 8, 70_000, "skewed", torch.uint8),
    (3, 5, 8, 8, 70_000, "skewed", torch.uint8),
    (3, 3, 3, 15, 70_000, "skewed", torch.int32),
    (3, 4, 40, 6, 70_000, "skewed", torch.uint8),
    (3, 2, 64, 8, 70_000, "skewed", torch.uint8),
    # the CUDA kernels' paths
    (3, 4, 8, 8, 1000, "uniform", None),
    (25, 6, 8, 8, 70001, "uniform", None),      # more samples than a 16-bit counter holds: flushes
    (17, 9, 64, 64, 3000, "saturated", None),
    (2, 3, 64, 33, 140000, "saturated", None),  # one cell gets > 65535 samples
    (5, 3, 300, 20, 2000, "uniform", None),     # int32 codes
    (2, 2, 450, 450, 500, "uniform", None),     # a pair's histogram exceeds shared memory: fallback
    (1, 1, 1, 1, 10, "uniform", None),
])
def test_pair_histograms(device, op_name, na, nb, in_bins, out_bins, S, kind, dtype):
    """Both ops give the bincount of every pair exactly, added to the existing counts, drop
    codes included, also from strided code rows (a slice of a wider block, as the tiled pass
    hands them over)."""
    g = torch.Generator().manual_seed(na * nb + S + 1000 * in_bins + out_bins)
    RX, RY = in_bins + 1, out_bins + 1
    dtype = dtype or (torch.uint8 if max(RX, RY) <= 256 else torch.int32)
    if kind == "saturated":
        x, y = saturated_codes(na, S, RX, g), saturated_codes(nb, S, RY, g)
    else:
        x = torch.randint(0, RX, (na, S), generator=g)
        y = torch.randint(0, RY, (nb, S), generator=g)
        if kind == "skewed":
            y[0, : S // 2] = 0
    x, y = x.to(dtype), y.to(dtype)
    start = (torch.zeros((na, nb, RX, RY), dtype=torch.int32) if kind == "skewed" else
             torch.randint(0, 1000, (na, nb, RX, RY), generator=g, dtype=torch.int32))
    counts = accumulate(device, op_name, start, x, y)
    assert torch.equal((counts - start).long(), bincount_pairs(x, y, RX, RY))
    assert int((counts - start).sum()) == na * nb * S
    wide = torch.cat([x, x], dim=1).to(device)
    strided = start.to(device, copy=True)
    getattr(ops, op_name)(strided, wide[:, :S], y.to(device))
    assert torch.equal(strided.cpu(), counts)


@on_each_device
def test_onehot_op_equals_atomic_op(device):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 9, (3, 500), generator=g, dtype=torch.int32)
    y = torch.randint(0, 5, (4, 500), generator=g, dtype=torch.int32)
    zeros = torch.zeros((3, 4, 9, 5), dtype=torch.int32)
    a = accumulate(device, "pair_histogram_accumulate_", zeros, x, y)
    b = accumulate(device, "pair_histogram_onehot_accumulate_", zeros, x, y)
    assert torch.equal(a, b) and int(a.sum()) == 3 * 4 * 500


@on_each_device
@pytest.mark.parametrize("op_name", HISTOGRAM_OPS)
def test_pair_histogram_rejects_bad_codes(device, op_name):
    counts = torch.zeros((1, 1, 3, 3), dtype=torch.int32, device=device)
    x = torch.tensor([[0, 1, 3]], dtype=torch.int32, device=device)  # 3 >= RX
    y = torch.tensor([[0, 1, 2]], dtype=torch.int32, device=device)
    with pytest.raises(RuntimeError):
        getattr(ops, op_name)(counts, x, y)
    with pytest.raises(RuntimeError):
        getattr(ops, op_name)(counts, y, -x)  # negative codes
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


@on_each_device
@settings(max_examples=60)
@given(count_tables())
def test_pairwise_mi_vs_sklearn(device, case):
    counts, in_bins, out_bins = case
    _, mi = run_op(device, ops.pairwise_mi, counts, in_bins, out_bins)
    assert_mi_matches_sklearn(mi, counts, in_bins, out_bins)
    ref = R.mi_matrix_from_histograms(counts.long(), in_bins, out_bins.long())
    for a in range(counts.shape[0]):
        for b in range(counts.shape[1]):
            expect = sklearn_mi_bits(counts[a, b, :in_bins, : int(out_bins[b])].numpy()) or 0.0
            assert ref[a, b].item() == pytest.approx(expect, rel=1e-12, abs=1e-15)


@on_each_device
@pytest.mark.parametrize("na,nb,in_bins,max_out,scale,sparse", [
    (4, 5, 8, 8, 50, False), (3, 7, 64, 64, 5, True), (2, 3, 300, 40, 3, True),
    (6, 2, 8, 8, 200000, False), (3, 3, 1, 5, 10, False)])
def test_pairwise_mi_tables(device, na, nb, in_bins, max_out, scale, sparse):
    """Larger and sparser tables than the hypothesis cases, an empty table, a single column,
    varying out_bins (bit for bit the same on every device: same logs, same summation tree)."""
    g = torch.Generator().manual_seed(in_bins + max_out)
    counts = torch.randint(0, scale, (na, nb, in_bins + 1, max_out + 1), generator=g)
    if sparse:
        counts *= torch.rand(counts.shape, generator=g) < 0.1
    counts[0, 0] = 0  # an empty table
    counts[-1, -1, :, 1:] = 0  # a single column
    counts = counts.to(torch.int32)
    out_bins = torch.randint(1, max_out + 1, (nb,), generator=g, dtype=torch.int32)
    out_bins[0] = max_out
    _, mi = run_op(device, ops.pairwise_mi, counts, in_bins, out_bins)
    assert_mi_matches_sklearn(mi, counts, in_bins, out_bins)


def summary_oracle(counts, in_bins, out_bins, x_codes, y_codes):
    """pair_table_summary's values in numpy float64: [na, nb, 4] (N, Rx, Ry, Rxy) and the L of
    each kept sample [na, nb, M] (0 for a code past its bins or an empty cell)."""
    na, nb = counts.shape[:2]
    m = x_codes.shape[1]
    counts_ = np.empty((na, nb, 4))
    log_ratios = np.zeros((na, nb, m))
    x, y = x_codes.long().numpy(), y_codes.long().numpy()
    for a in range(na):
        for b in range(nb):
            ob = int(out_bins[b])
            t = counts[a, b, :in_bins, :ob].numpy().astype(np.float64)
            n, pi, pj = t.sum(), t.sum(axis=1), t.sum(axis=0)
            counts_[a, b] = n, (pi > 0).sum(), (pj > 0).sum(), (t > 0).sum()
            for k in range(m):
                i, j = x[a, k], y[b, k]
                if 0 <= i < in_bins and 0 <= j < ob and t[i, j] > 0:
                    log_ratios[a, b, k] = math.log2(t[i, j] * n / (pi[i] * pj[j]))
    return counts_, log_ratios


def check_pair_table_summary(device, counts, in_bins, out_bins, x_codes, y_codes):
    _, (summary, log_ratios) = run_op(device, ops.pair_table_summary, counts, in_bins, out_bins,
                                      x_codes, y_codes)
    _, mi = run_op(device, ops.pairwise_mi, counts, in_bins, out_bins)
    assert summary.dtype == torch.float64 and summary.shape == counts.shape[:2] + (5,)
    assert log_ratios.dtype == torch.float32 and log_ratios.shape == counts.shape[:2] + (x_codes.shape[1],)
    assert torch.equal(summary[..., 0], mi)  # the same routine: bit for bit
    expect_counts, expect_l = summary_oracle(counts, in_bins, out_bins, x_codes, y_codes)
    np.testing.assert_array_equal(summary[..., 1:].numpy(), expect_counts)  # exact integers
    # L in double, rounded once to float32: within float32's half ulp (6e-8 relative) of the
    # float64 log2, plus a few double ulps of log N for the logs' own rounding.
    np.testing.assert_allclose(log_ratios.numpy(), expect_l, rtol=1.2e-7, atol=1e-12)


@on_each_device
@settings(max_examples=40)
@given(count_tables(), st.integers(0, 40), st.sampled_from([torch.uint8, torch.int32]), st.integers(0, 10**6))
def test_pair_table_summary_vs_numpy(device, case, m, dtype, seed):
    """Kept samples anywhere in the tables, drop codes and (int32) negative or huge codes
    included: those give L = 0 and read nothing."""
    counts, in_bins, out_bins = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, counts.shape[2], (counts.shape[0], m), generator=g)
    y = torch.randint(0, counts.shape[3], (counts.shape[1], m), generator=g)
    if dtype == torch.int32 and m:
        x[0, 0], y[-1, -1] = -3, 2**31 - 1
    check_pair_table_summary(device, counts, in_bins, out_bins, x.to(dtype), y.to(dtype))


@on_each_device
def test_pair_table_summary_wide_counts_and_rejects_bad_codes(device):
    g = torch.Generator().manual_seed(5)
    counts = torch.randint(0, 3_000_000_000, (2, 3, 6, 5), generator=g, dtype=torch.int64)
    x = torch.randint(0, 6, (2, 20), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 5, (3, 20), generator=g, dtype=torch.uint8)
    check_pair_table_summary(device, counts, 5, torch.tensor([4, 4, 2], dtype=torch.int32), x, y)
    narrow = counts.to(torch.int32)
    with pytest.raises(RuntimeError, match="both be uint8 or both int32"):
        ops.pair_table_summary(narrow.to(device), 5, torch.full((3,), 4, dtype=torch.int32),
                               x.to(device), y.to(torch.int32).to(device))
    with pytest.raises(RuntimeError, match=r"x_codes and y_codes must be \[na, M\]"):
        ops.pair_table_summary(narrow.to(device), 5, torch.full((3,), 4, dtype=torch.int32),
                               x[:1].to(device), y.to(device))


# ------------------------------------------------------------------------------------------
# vector_codes_
# ------------------------------------------------------------------------------------------
@st.composite
def vector_cases(draw):
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0)])
                  | finite_ranges.filter(lambda r: r[1] - r[0] > 0.01))
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


def vector_block_case():
    g = torch.Generator().manual_seed(2)
    v = torch.randn((5, 4000), generator=g) * 3
    v[0, :6] = torch.tensor([math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0])
    return v, -1.0, 1.0, 37


def check_vector_codes(device, case):
    values, lo, hi, bins = case
    (codes, *_), _ = run_op(device, ops.vector_codes_, torch.empty(values.shape, dtype=torch.int32),
                            values, lo, hi, bins)
    finite = torch.isfinite(values)
    finite_values = torch.where(finite, values, torch.zeros_like(values))
    ref = R.vector_codes(finite_values, lo, hi, bins)
    # codes beyond int32 saturate (binning.h), where torch's float -> int32 cast is undefined
    scaled = torch.floor((finite_values - lo) / (hi - lo + 0.0001) * bins)
    ref = torch.where(scaled >= 2**31, INT32_MAX, torch.where(scaled < -(2**31), -(2**31), ref))
    ref = torch.where(finite, ref, torch.full_like(ref, INT32_MAX))
    assert torch.equal(codes, ref)


@on_each_device
@given(vector_cases())
def test_vector_codes_bit_identical_to_torch(device, case):
    check_vector_codes(device, case)


@on_each_device
def test_vector_codes_block(device):
    """4000 samples of wide normal values (most out of range), infinities, NaN, +-1e30."""
    check_vector_codes(device, vector_block_case())


# ------------------------------------------------------------------------------------------
# vector_keys
# ------------------------------------------------------------------------------------------
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


def check_vector_keys(device, x, y, in_bins, out_bins, out_bits, out_offset, in_index, out_index):
    """The fused op equals vector_codes_ -> whole-vector filter -> pack_code_rows, composed."""
    in_bits = max(1, (in_bins - 1).bit_length())
    args = (x, y, 0.0, 1.0, in_bins, 0.0, 1.0, out_bins, in_bits, out_bits, out_offset,
            torch.tensor(in_index, dtype=torch.int64), torch.tensor(out_index, dtype=torch.int64))
    _, keys = run_op(device, ops.vector_keys, *args)  # index vectors on the device
    if device != "cpu":  # the engine passes the index vectors from the host
        host_index = ops.vector_keys(x.to(device), y.to(device), *args[2:])
        assert torch.equal(host_index.cpu(), keys)
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
                          packed(kept_y, out_index, out_bits, out_offset)], dim=1)
    assert torch.equal(keys, expected)
    return keys


@on_each_device
@settings(max_examples=40)
@given(vector_key_cases())
def test_vector_keys_equals_codes_filter_and_packing(device, case):
    x, y, in_bins, out_bins, in_index, out_index = case
    check_vector_keys(device, x, y, in_bins, out_bins, 32, 2**31, in_index, out_index)


@on_each_device
@pytest.mark.parametrize("in_bins,out_bins,out_bits,out_offset", [(8, 8, 32, 2**31), (64, 5, 32, 2**31), (3, 70, 7, 0)])
def test_vector_keys_blocks(device, in_bins, out_bins, out_bits, out_offset):
    """30000 samples, narrow output fields without offset, all / some / no neurons indexed."""
    g = torch.Generator().manual_seed(in_bins)
    x = torch.rand((9, 30000), generator=g)
    y = torch.rand((7, 30000), generator=g) * (1.4 if out_offset else 1.0) - (0.2 if out_offset else 0.0)
    for in_index, out_index in [(list(range(9)), list(range(7))), ([4, 0], [6]), ([], [1, 2])]:
        keys = check_vector_keys(device, x, y, in_bins, out_bins, out_bits, out_offset,
                                 in_index, out_index)
        assert 0 < keys.shape[0] <= 30000


@on_each_device
def test_vector_keys_rejects_codes_that_do_not_fit(device):
    y = torch.tensor([[-0.5]], device=device)  # a negative code does not fit an unsigned, un-offset field
    with pytest.raises(RuntimeError):
        ops.vector_keys(torch.tensor([[0.5]], device=device), y, 0.0, 1.0, 8, 0.0, 1.0, 8, 3, 3, 0,
                        torch.tensor([0]), torch.tensor([0]))


# ------------------------------------------------------------------------------------------
# pack_code_rows, sort_unique_rows, prefix_counts
# ------------------------------------------------------------------------------------------
def _pack_reference(codes, bits, offset):
    """Field j of row i = codes[j, i] + offset at bit (j % per) * bits of word j // per, built
    in unsigned 64-bit words (numpy uint64: no signed overflow), then read as int64."""
    n, S = codes.shape
    per = 64 // bits
    fields = codes.long().numpy() + offset
    assert (fields >= 0).all() and (bits == 64 or (fields < (1 << bits)).all())
    words = np.zeros((S, -(-n // per)), dtype=np.uint64)
    for j in range(n):
        words[:, j // per] |= fields[j].astype(np.uint64) << np.uint64((j % per) * bits)
    return torch.from_numpy(words.view(np.int64))


@st.composite
def code_matrices(draw):
    bits = draw(st.sampled_from([1, 2, 3, 5, 8, 9, 16, 21, 32]))
    offset = draw(st.integers(0, 3))
    n = draw(st.integers(1, 12))
    S = draw(st.integers(1, 80))
    top = min(2**bits - 1 - offset, 2**31 - 1)  # codes are int32
    hi = min(top, 4) if draw(st.booleans()) else top
    lo = -offset
    hi = max(hi, lo)
    g = torch.Generator().manual_seed(draw(st.integers(0, 10**6)))
    codes = torch.randint(lo, hi + 1, (n, S), generator=g, dtype=torch.int64)
    if S > 2 and draw(st.booleans()):  # repeated rows
        codes[:, S // 2 :] = codes[:, : S - S // 2].clone()
    return codes.to(torch.int32), bits, offset


def check_pack_code_rows(device, codes, bits, offset):
    _, packed = run_op(device, ops.pack_code_rows, codes, bits, offset)
    assert packed.dtype == torch.int64
    assert torch.equal(packed, _pack_reference(codes, bits, offset))


@on_each_device
@given(code_matrices())
def test_pack_code_rows(device, case):
    check_pack_code_rows(device, *case)


@on_each_device
@pytest.mark.parametrize("bits,offset", [(3, 0), (8, 1), (32, 2**31), (64, 0), (21, 5)])
def test_pack_code_rows_block(device, bits, offset):
    """13 x 999 codes spanning each field's whole range (64-bit and offset 2^31 fields too);
    a field one past the top does not fit."""
    g = torch.Generator().manual_seed(bits)
    top = min(2**bits - 1 - offset, 2**31 - 1)
    low = -offset if offset < 2**31 else -(2**31)
    codes = torch.randint(low, top + 1, (13, 999), generator=g).to(torch.int32)
    check_pack_code_rows(device, codes, bits, offset)
    if bits < 32:
        too_big = torch.tensor([[2**bits - offset]], dtype=torch.int32, device=device)
        with pytest.raises(RuntimeError):
            ops.pack_code_rows(too_big, bits, offset)


@on_each_device
def test_pack_code_rows_rejects_out_of_field(device):
    codes = torch.tensor([[0, 4]], dtype=torch.int32, device=device)
    with pytest.raises(RuntimeError):
        ops.pack_code_rows(codes, 2, 0)  # 4 does not fit in 2 bits
    with pytest.raises(RuntimeError):
        ops.pack_code_rows(torch.tensor([[-2]], dtype=torch.int32, device=device), 4, 1)  # -2 + 1 < 0


def _unsigned(row):
    return tuple(int(w) & 0xFFFFFFFFFFFFFFFF for w in row)


def make_keys(M, W, kind, g):
    if kind == "small":
        return torch.randint(0, 4, (M, W), generator=g, dtype=torch.int64)
    if kind == "full":
        keys = torch.randint(-(2**63), 2**63 - 1, (M, W), generator=g, dtype=torch.int64)
        keys[M // 2 :] = keys[: M - M // 2].clone()
        return keys
    if kind == "constant_words":
        keys = torch.randint(0, 3, (M, W), generator=g, dtype=torch.int64) << 40
        keys[:, 0] = 7
        return keys
    # "negative": words with the sign bit set must sort after the others (unsigned order)
    keys = torch.randint(0, 3, (M, W), generator=g, dtype=torch.int64)
    keys[:, 0] = torch.where(torch.rand(M, generator=g) < 0.5, torch.tensor(-1), torch.tensor(5))
    return keys


def check_sort_unique_and_prefix_counts(device, keys, weights):
    M, W = keys.shape
    _, (uniq, counts) = run_op(device, ops.sort_unique_rows, keys, weights)
    ref = {}
    for row, w in zip(keys.tolist(), weights.tolist() if weights is not None else [1] * M):
        k = _unsigned(row)
        ref[k] = ref.get(k, 0) + w
    order = sorted(ref)
    assert [_unsigned(r) for r in uniq.tolist()] == order
    assert counts.tolist() == [ref[k] for k in order]
    for p in range(W + 1):
        _, pc = run_op(device, ops.prefix_counts, uniq, counts, p)
        groups = {}
        for k in order:
            groups.setdefault(k[:p], 0)
            groups[k[:p]] += ref[k]
        assert pc.tolist() == [groups[k] for k in sorted(groups)]


SORT_KINDS = ["small", "full", "constant_words", "negative"]
# Rows of more than 15 words of varying bits (960: the CPU sort's limit before), as the keys of
# layers of about 88 or more neurons a side at 64 bins are.
WIDE_WORDS = [16, 17, 33]


@on_each_device
@settings(max_examples=50)
@given(
    M=st.integers(1, 300),
    W=st.one_of(st.integers(1, 4), st.sampled_from(WIDE_WORDS)),
    kind=st.sampled_from(SORT_KINDS),
    weighted=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_sort_unique_rows_and_prefix_counts(device, M, W, kind, weighted, seed):
    g = torch.Generator().manual_seed(seed)
    keys = make_keys(M, W, kind, g)
    weights = torch.randint(1, 1000, (M,), generator=g, dtype=torch.int64) if weighted else None
    check_sort_unique_and_prefix_counts(device, keys, weights)


@on_each_device
@pytest.mark.parametrize("M,W,kind", [(1, 1, "small"), (5000, 1, "small"), (3000, 3, "full"),
                                      (20000, 2, "negative"), (777, 4, "constant_words")])
@pytest.mark.parametrize("weighted", [False, True])
def test_sort_unique_rows_blocks(device, M, W, kind, weighted):
    """More rows than the hypothesis cases (a single row too), each kind of key."""
    g = torch.Generator().manual_seed(M + W)
    keys = make_keys(M, W, kind, g)
    weights = torch.randint(1, 1000, (M,), generator=g, dtype=torch.int64) if weighted else None
    check_sort_unique_and_prefix_counts(device, keys, weights)


@on_each_device
@pytest.mark.parametrize("M,W,kind", [(4000, 26, "full"), (3000, 40, "small"), (2500, 33, "negative"),
                                      (2000, 17, "constant_words")])
@pytest.mark.parametrize("weighted", [False, True])
def test_sort_unique_rows_wide_rows(device, M, W, kind, weighted):
    """Rows of 17 to 40 words, every bit of them varying ("full"), few values a word with many
    equal rows ("small"): more rows than the hypothesis cases, so that the first radix pass
    leaves buckets for the further splits and insertion sorts of wide records."""
    g = torch.Generator().manual_seed(M + W)
    keys = make_keys(M, W, kind, g)
    weights = torch.randint(1, 1000, (M,), generator=g, dtype=torch.int64) if weighted else None
    check_sort_unique_and_prefix_counts(device, keys, weights)


@on_each_device
@pytest.mark.parametrize("varying_bits, duplicates", [(93, False), (40, True), (20, True), (130, False)])
def test_sort_unique_rows_large_inputs(device, varying_bits, duplicates):
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
    _, (uniq, counts) = run_op(device, ops.sort_unique_rows, keys, weights)
    ref_uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    ref_counts = torch.zeros(len(ref_uniq), dtype=torch.int64).index_add_(0, inverse, weights)
    assert torch.equal(uniq, ref_uniq) and torch.equal(counts, ref_counts)


def distinct_prefixes(keys, p):
    return len({_unsigned(row)[:p] for row in keys.tolist()})


def bit_rows(M, thermometer):
    """M rows that differ one bit at a time, 63 bits a word (non-negative words): row i has bit
    i set (one-hot), or bits 0 to i (thermometer). Each radix split on their top varying bits
    sets only a few rows apart: the sort's worst case."""
    W = (M + 62) // 63
    bit = torch.arange(W * 63)
    row = torch.arange(M).unsqueeze(1)
    on = (bit <= row) if thermometer else (bit == row)
    words = on.reshape(M, W, 63).to(torch.int64) << torch.arange(63)
    return words.sum(dim=2)


@on_each_device
@pytest.mark.parametrize("thermometer", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_sort_unique_rows_of_rows_differing_a_bit_at_a_time(device, thermometer, weighted):
    """3000 such rows of 48 words, a third of them twice (the duplicates must merge): on the
    CPU the splits peel off a few rows each until the comparison sort takes the rest."""
    g = torch.Generator().manual_seed(3 + thermometer)
    keys = bit_rows(3000, thermometer)
    keys = torch.cat([keys, keys[torch.randperm(3000, generator=g)[:1000]]])
    weights = torch.randint(1, 1000, (keys.shape[0],), generator=g, dtype=torch.int64) if weighted else None
    check_sort_unique_and_prefix_counts(device, keys, weights)


def test_sort_of_rows_differing_a_bit_at_a_time_fits_a_small_stack(tmp_path):
    """8000 one-hot rows (127 words) sorted on one thread whose stack is 1 MiB. The sort once
    recursed a frame (about 2 KiB) per split, a thousand here: this process died of a
    segmentation fault. It now recurses only into buckets of at most half the rows. A
    separate process, so that a crash fails this test rather than the run."""
    script = tmp_path / "sort_on_small_stack.py"
    script.write_text(
        "import threading, torch\n"
        "from deep_ei_fast.engine import ops\n"
        "from test_kernels import bit_rows\n"
        "torch.set_num_threads(1)  # the sort runs on the calling thread, on its stack\n"
        "keys, out = bit_rows(8000, False), {}\n"
        "threading.stack_size(1 << 20)\n"
        "t = threading.Thread(target=lambda: out.update(r=ops.sort_unique_rows(keys, None)))\n"
        "t.start(); t.join()\n"
        "uniq, counts = out['r']\n"
        "assert [tuple(r) for r in uniq.tolist()] == sorted(tuple(r) for r in keys.tolist())\n"
        "assert bool((counts == 1).all())\n"
        "print('sorted', uniq.shape[0])\n")
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(tests), tests]))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["sorted", "8000"]


def count_on(device, blocks, p):
    """count_distinct_prefixes of CPU `blocks` copied to `device` (run_op moves tensor
    arguments, not lists of them); off the CPU, the CPU's count too, which must be equal."""
    count = ops.count_distinct_prefixes([b.to(device) for b in blocks], p)
    if torch.device(device).type != "cpu":
        assert count == ops.count_distinct_prefixes(blocks, p)
    return count


@on_each_device
@settings(max_examples=50)
@given(
    M=st.integers(0, 300),
    W=st.one_of(st.integers(1, 4), st.sampled_from(WIDE_WORDS)),
    kind=st.sampled_from(SORT_KINDS),
    cuts=st.lists(st.integers(0, 300), max_size=3),
    seed=st.integers(0, 10**6),
)
def test_count_distinct_prefixes(device, M, W, kind, cuts, seed):
    """The number of distinct prefixes of every length (0: one prefix, the empty one, when
    there are rows), against a set of Python tuples; the rows cut into blocks anywhere (empty
    blocks too) count the same."""
    keys = make_keys(M, W, kind, torch.Generator().manual_seed(seed))
    bounds = [0, *sorted(min(c, M) for c in cuts), M]
    blocks = [keys[a:b] for a, b in zip(bounds, bounds[1:])]
    for p in sorted({0, 1, W // 2, W - 1, W}):
        count = count_on(device, blocks, p)
        assert isinstance(count, int) and count == distinct_prefixes(keys, p), p


@on_each_device
@pytest.mark.parametrize("M,W,kind,p", [(300_000, 3, "distinct", 2), (300_000, 3, "one_duplicate", 2),
                                        (200_000, 2, "small", 2), (50_000, 1, "equal", 1),
                                        (20_000, 26, "distinct", 13), (20_000, 26, "full", 26),
                                        (2_100_000, 1, "one_duplicate", 1)])
def test_count_distinct_prefixes_large(device, M, W, kind, p):
    """Enough rows for many hash partitions (about 2048 rows each), in blocks of 65536 rows as
    the engine hands them over: distinct rows, the same rows with a single one repeated (the
    count must drop by exactly one), few values (most rows repeated, in every partition), one
    row repeated M times (a single partition), wide rows; over a million rows, where the CPU
    kernel's chunks grow beyond 16384 rows to stay few. Compared with torch.unique on
    non-negative keys, or with Python tuples."""
    g = torch.Generator().manual_seed(M + W)
    if kind == "equal":
        keys = torch.full((M, W), 12345, dtype=torch.int64)
    elif kind == "full":
        keys = make_keys(M, W, "full", g)
    else:
        keys = torch.randint(0, 2**62 if kind != "small" else 40, (M, W), generator=g, dtype=torch.int64)
    if kind == "one_duplicate":
        keys[M - 1] = keys[M // 3]
    count = count_on(device, list(keys.split(65536)), p)
    expected = distinct_prefixes(keys, p) if kind == "full" else torch.unique(keys[:, :p], dim=0).shape[0]
    assert count == expected
    if kind == "one_duplicate":
        assert count == M - 1


MASK64 = 2**64 - 1


def _row_hash_step(h, word):
    """One word of the CPU kernel's row_hash (csrc/cpu/distinct_prefixes_cpu.cpp), unsigned."""
    h = ((h ^ word) * 0xBF58476D1CE4E5B9) & MASK64
    return h ^ (h >> 31)


def _row_hash(row):
    h = 0x9E3779B97F4A7C15
    for word in row:
        h = _row_hash_step(h, word)
    for shift, multiplier in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53)):
        h = ((h ^ (h >> shift)) * multiplier) & MASK64
    return h ^ (h >> 33)


def _signed(word):
    return word - 2**64 if word >= 2**63 else word


@on_each_device
def test_count_distinct_prefixes_resolves_hash_collisions(device):
    """2000 pairs of different two-word rows built to share the CPU kernel's 64-bit hash (the
    second word cancels the first's difference in the hash state), a third of the rows twice:
    every pair counts as two rows and every repeat as none. A kernel that compared hashes alone
    would count 2000; random rows never collide, so the other tests could not tell."""
    g = np.random.default_rng(8)
    first = g.choice(2**62, size=4000, replace=False).tolist()
    rows = []
    for a0, b0 in zip(first[::2], first[1::2]):
        a1 = int(g.integers(0, 2**62))
        b1 = _row_hash_step(0x9E3779B97F4A7C15, a0) ^ a1 ^ _row_hash_step(0x9E3779B97F4A7C15, b0)
        assert _row_hash([a0, a1]) == _row_hash([b0, b1])  # the replica's rows collide
        rows += [[a0, a1], [b0, b1]]
    keys = torch.tensor([[_signed(w) for w in row] for row in rows], dtype=torch.int64)
    keys = torch.cat([keys, keys[torch.from_numpy(g.permutation(4000)[:1300])]])
    assert count_on(device, list(keys.split(1024)), 2) == 4000
    assert count_on(device, [keys], 1) == 4000  # the first words are all different


@on_each_device
def test_count_distinct_prefixes_rejects_bad_arguments(device):
    keys = torch.zeros((3, 2), dtype=torch.int64, device=device)
    with pytest.raises(RuntimeError, match="prefix_words must be in"):
        ops.count_distinct_prefixes([keys], 3)
    with pytest.raises(RuntimeError, match="prefix_words must be in"):
        ops.count_distinct_prefixes([keys], -1)
    with pytest.raises(RuntimeError, match="blocks must be int64"):
        ops.count_distinct_prefixes([keys.to(torch.int32)], 1)
    with pytest.raises(RuntimeError, match="the same W"):
        ops.count_distinct_prefixes([keys, keys[:, :1]], 1)
    with pytest.raises(ValueError, match="at least one tensor"):
        ops.count_distinct_prefixes([], 0)


@on_each_device
@settings(max_examples=30)
@given(code_matrices())
def test_pack_sort_unique_vs_torch_unique(device, case):
    codes, bits, offset = case
    n = codes.shape[0]
    _, packed = run_op(device, ops.pack_code_rows, codes, bits, offset)
    _, (uniq, counts) = run_op(device, ops.sort_unique_rows, packed, None)
    _, ref_counts = torch.unique(codes.T, dim=0, return_counts=True)
    # same number of distinct code vectors, same multiset of counts, same entropy
    assert uniq.shape[0] == ref_counts.shape[0]
    assert sorted(counts.tolist()) == sorted(ref_counts.tolist())
    assert counts.sum().item() == codes.shape[1]
    assert R.entropy_bits(counts) == pytest.approx(R.entropy_bits(ref_counts), rel=1e-12, abs=1e-15)
    # counting the first k neurons = prefix of the packed words when k fills whole words
    per = 64 // bits
    if n > per:
        _, pc = run_op(device, ops.prefix_counts, uniq, counts, 1)
        _, ref_prefix = torch.unique(codes[:per].T, dim=0, return_counts=True)
        assert sorted(pc.tolist()) == sorted(ref_prefix.tolist())
