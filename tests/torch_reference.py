"""Plain-torch reference implementation of deep-ei's estimators.

This module deliberately does not import deep_ei_fast.  It is used
  * by the tests, as the oracle the engine ops and the package are compared with, and
  * by the benchmarks, as "the plain-torch implementation".

Conventions (the same as deep-ei 0.7.0):
  * samples are row-major here: x is [S, n_in], y is [S, n_out];
  * pairwise binning = fast_histogram's rule on a range widened by 1e-6 on each side,
    computed in float64; a pair sample is counted only if both values are in range;
  * vector binning   = deep-ei's float32 torch formula
    floor((v - l) / (h - l + 0.0001) * bins) cast to int32, keeping a sample only if every
    input code is < in_bins and every output code is < out_bins;
  * mutual information = the plug-in estimate of scikit-learn's mutual_info_score, in bits.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple, Union

import torch

WIDEN = 1e-6
LN2 = math.log(2.0)
DBL_EPS = torch.finfo(torch.float64).eps

RangeLike = Union[Tuple[float, float], Sequence[Tuple[float, float]]]


# --------------------------------------------------------------------------------------
# Pairwise (fast_histogram) binning
# --------------------------------------------------------------------------------------
def _per_neuron(value, n: int, dtype) -> torch.Tensor:
    """Broadcast a scalar / per-neuron sequence to a [n] tensor."""
    t = torch.as_tensor(value, dtype=dtype)
    if t.dim() == 0:
        t = t.expand(n)
    assert t.shape == (n,), f"expected {n} per-neuron values, got shape {tuple(t.shape)}"
    return t


def _split_range(rng, n: int):
    """(lo, hi) or a sequence of n (lo, hi) pairs -> two float64 [n] tensors."""
    r = torch.as_tensor(rng, dtype=torch.float64)
    if r.dim() == 1:
        r = r.expand(n, 2)
    assert r.shape == (n, 2)
    return r[:, 0].contiguous(), r[:, 1].contiguous()


def pairwise_codes(values: torch.Tensor, lo, hi, bins, widen: bool = True) -> torch.Tensor:
    """fast_histogram bin index of every value, -1 where the value is dropped.

    values: [S, n] (any float dtype, converted to float64); lo, hi: scalars or [n] (the
    *unwidened* range unless widen=False); bins: int or [n].  Returns int64 [S, n].
    A value v is in range iff lo' <= v < hi' (so NaN and +-inf are dropped), and its bin is
    int((v - lo') * (bins / (hi' - lo'))) computed in float64, clamped to bins - 1.
    """
    v = values.to(torch.float64)
    n = v.shape[1]
    lo = _per_neuron(lo, n, torch.float64)
    hi = _per_neuron(hi, n, torch.float64)
    b = _per_neuron(bins, n, torch.int64)
    if widen:
        lo, hi = lo - WIDEN, hi + WIDEN
    in_range = (v >= lo) & (v < hi)
    norm = b.to(torch.float64) / (hi - lo)
    raw = (v - lo) * norm
    # v >= lo in range, so truncation == floor; nan_to_num keeps the cast defined
    code = torch.floor(torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)).to(torch.int64)
    code = torch.minimum(code, b - 1)
    return torch.where(in_range, code, torch.full_like(code, -1))


# --------------------------------------------------------------------------------------
# Joint histograms of all pairs
# --------------------------------------------------------------------------------------
def pair_histograms(x_codes: torch.Tensor, y_codes: torch.Tensor, in_bins: int, out_bins) -> torch.Tensor:
    """Joint counts of every (input neuron a, output neuron b) pair.

    x_codes: int64 [S, n_in], y_codes: int64 [S, n_out], -1 = dropped.  Returns int64
    [n_in, n_out, in_bins, max(out_bins)]; a sample is counted for pair (a, b) only if
    neither code is -1.  Built with torch.bincount on a flattened index.
    """
    S, n_in = x_codes.shape
    n_out = y_codes.shape[1]
    ob = _per_neuron(out_bins, n_out, torch.int64)
    RY = int(ob.max()) if n_out else 1
    out = torch.zeros((n_in, n_out, in_bins, RY), dtype=torch.int64)
    b_idx = torch.arange(n_out, dtype=torch.int64)
    for a in range(n_in):  # one input neuron at a time keeps memory at S * n_out
        xa = x_codes[:, a : a + 1]  # [S, 1]
        keep = (xa >= 0) & (y_codes >= 0)  # [S, n_out]
        flat = (b_idx * in_bins + xa) * RY + y_codes  # [S, n_out]
        flat = flat[keep]
        out[a] = torch.bincount(flat, minlength=n_out * in_bins * RY).view(n_out, in_bins, RY)
    return out


def pair_histograms_scatter(x_codes: torch.Tensor, y_codes: torch.Tensor, in_bins: int, out_bins) -> torch.Tensor:
    """The same table as pair_histograms, built with scatter_add_ (a second, independent way)."""
    S, n_in = x_codes.shape
    n_out = y_codes.shape[1]
    ob = _per_neuron(out_bins, n_out, torch.int64)
    RY = int(ob.max()) if n_out else 1
    out = torch.zeros(n_in * n_out * in_bins * RY, dtype=torch.int64)
    a = torch.arange(n_in).view(1, n_in, 1)
    b = torch.arange(n_out).view(1, 1, n_out)
    xc = x_codes.view(S, n_in, 1)
    yc = y_codes.view(S, 1, n_out)
    keep = (xc >= 0) & (yc >= 0)
    flat = ((a * n_out + b) * in_bins + xc) * RY + yc
    flat = flat[keep]
    out.scatter_add_(0, flat, torch.ones_like(flat))
    return out.view(n_in, n_out, in_bins, RY)


# --------------------------------------------------------------------------------------
# Plug-in mutual information
# --------------------------------------------------------------------------------------
def mi_from_contingency(table: torch.Tensor) -> float:
    """Plug-in MI in bits of a 2-d count table, computed as sklearn's mutual_info_score.

    MI = sum_ij n_ij/N * (log n_ij - log N) + n_ij/N * (-log(p_i p_j) + log N + log N),
    terms with |term| < DBL_EPSILON set to 0, sum clipped at 0, divided by ln 2.
    A table with a single row or column, or no counts, has MI 0.
    """
    t = torch.as_tensor(table).to(torch.int64)
    assert t.dim() == 2
    if t.shape[0] == 1 or t.shape[1] == 1:
        return 0.0
    N = int(t.sum())
    if N == 0:
        return 0.0
    pi = t.sum(dim=1)
    pj = t.sum(dim=0)
    nzx, nzy = torch.nonzero(t, as_tuple=True)
    nz = t[nzx, nzy].to(torch.float64)
    outer = (pi[nzx] * pj[nzy]).to(torch.float64)  # int64 product, as sklearn
    logN = math.log(N)
    frac = nz / N
    term = frac * (torch.log(nz) - logN) + frac * (-torch.log(outer) + logN + logN)
    term = torch.where(term.abs() < DBL_EPS, torch.zeros_like(term), term)
    return max(float(term.sum()), 0.0) / LN2


def mi_matrix_from_histograms(counts: torch.Tensor, in_bins: int, out_bins) -> torch.Tensor:
    """float64 [n_in, n_out]: MI in bits of counts[a, b, :in_bins, :out_bins[b]].

    The formula of mi_from_contingency, vectorised over all output neurons of one input neuron
    at a time (only the summation order differs from sklearn: ~1e-16 relative).
    """
    n_in, n_out = counts.shape[:2]
    ob = _per_neuron(out_bins, n_out, torch.int64)
    RY = counts.shape[3]
    col_ok = torch.arange(RY).view(1, RY) < ob.view(n_out, 1)  # [n_out, RY]
    out = torch.zeros((n_in, n_out), dtype=torch.float64)
    if in_bins == 1:
        return out
    for a in range(n_in):
        c = counts[a, :, :in_bins, :].to(torch.int64) * col_ok[:, None, :]  # [n_out, X, RY]
        N = c.sum(dim=(1, 2))  # [n_out]
        pi = c.sum(dim=2)  # [n_out, X]
        pj = c.sum(dim=1)  # [n_out, RY]
        outer = (pi[:, :, None] * pj[:, None, :]).to(torch.float64)  # int64 product, as sklearn
        nz = c > 0
        cf = c.to(torch.float64)
        Nf = N.to(torch.float64).clamp(min=1).view(n_out, 1, 1)
        logN = torch.log(Nf)
        frac = cf / Nf
        safe = torch.where(nz, cf, torch.ones_like(cf))
        safe_outer = torch.where(nz, outer, torch.ones_like(outer))
        term = frac * (torch.log(safe) - logN) + frac * (-torch.log(safe_outer) + logN + logN)
        term = torch.where(nz & (term.abs() >= DBL_EPS), term, torch.zeros_like(term))
        mi = term.sum(dim=(1, 2)).clamp(min=0.0) / LN2
        mi = torch.where((N == 0) | (ob == 1), torch.zeros_like(mi), mi)
        out[a] = mi
    return out


def mi(x: torch.Tensor, y: torch.Tensor, bins=(32, 32), range=((0, 1), (0, 1))) -> float:
    """MI in bits of two 1-d series, binned pairwise (deep-ei's MI)."""
    if isinstance(bins, int):
        bins = (bins, bins)
    cx = pairwise_codes(x.reshape(-1, 1), range[0][0], range[0][1], bins[0])
    cy = pairwise_codes(y.reshape(-1, 1), range[1][0], range[1][1], bins[1])
    h = pair_histograms(cx, cy, bins[0], bins[1])
    return mi_from_contingency(h[0, 0])


def ei_parts_matrix_from_samples(x, y, in_range, in_bins, out_range, out_bins) -> torch.Tensor:
    """Pairwise MI matrix in bits (float64 [n_in, n_out]) from samples x [S, n_in], y [S, n_out].

    in_range: (lo, hi); out_range: (lo, hi) or one (lo, hi) per output neuron; out_bins: int
    or one per output neuron.  Ranges are widened by 1e-6 internally, as deep-ei does.
    """
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    n_in, n_out = x.shape[1], y.shape[1]
    ilo, ihi = _split_range(in_range, n_in)
    olo, ohi = _split_range(out_range, n_out)
    cx = pairwise_codes(x, ilo, ihi, in_bins)
    cy = pairwise_codes(y, olo, ohi, out_bins)
    counts = pair_histograms(cx, cy, in_bins, out_bins)
    return mi_matrix_from_histograms(counts, in_bins, out_bins)


def ei_parts_from_samples(x, y, in_range, in_bins, out_range, out_bins) -> float:
    """Sum of the pairwise MI matrix, zeroed below 0.01 bits as deep-ei's ei_parts does."""
    total = float(ei_parts_matrix_from_samples(x, y, in_range, in_bins, out_range, out_bins).sum())
    return 0.0 if total < 0.01 else total


# --------------------------------------------------------------------------------------
# Vector coding and distinct counting
# --------------------------------------------------------------------------------------
def vector_codes(values: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """deep-ei's vector binning: torch float32 floor((v - l) / (h - l + 0.0001) * bins) -> int32."""
    v = values.to(torch.float32)
    return torch.floor((v - lo) / (hi - lo + 0.0001) * bins).to(torch.int32)


def entropy_bits(counts: torch.Tensor) -> float:
    """Plug-in entropy in bits of a vector of (positive) counts."""
    c = counts.to(torch.float64)
    c = c[c > 0]
    if c.numel() == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * torch.log2(p)).sum())


def distinct_counts(codes: torch.Tensor) -> torch.Tensor:
    """Counts of the distinct rows of a [S, k] code matrix (torch.unique(dim=0))."""
    if codes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    _, counts = torch.unique(codes, dim=0, return_counts=True)
    return counts


def vector_ei_from_codes(xc: torch.Tensor, yc: torch.Tensor, in_bins: int, out_bins: int) -> float:
    """H(X) + H(Y) - H(X, Y) in bits over the rows whose codes are all < the bin counts."""
    keep = (xc < in_bins).all(dim=1) & (yc < out_bins).all(dim=1)
    xc, yc = xc[keep], yc[keep]
    hx = entropy_bits(distinct_counts(xc))
    hy = entropy_bits(distinct_counts(yc))
    hxy = entropy_bits(distinct_counts(torch.cat([xc, yc], dim=1)))
    return hx + hy - hxy


def vector_ei_from_samples(x, y, in_range, in_bins, out_range, out_bins) -> float:
    """Vector EI in bits from samples x [S, n_in], y [S, n_out] (deep-ei's `ei` estimator)."""
    xc = vector_codes(torch.as_tensor(x), in_range[0], in_range[1], in_bins)
    yc = vector_codes(torch.as_tensor(y), out_range[0], out_range[1], out_bins)
    return vector_ei_from_codes(xc, yc, in_bins, out_bins)


def group_eis_from_samples(x, y, groups, in_range, in_bins, out_range, out_bins):
    """eis_between_groups: vector EI of each (in_indices, out_indices) group, after the
    whole-vector filter."""
    xc = vector_codes(torch.as_tensor(x), in_range[0], in_range[1], in_bins)
    yc = vector_codes(torch.as_tensor(y), out_range[0], out_range[1], out_bins)
    keep = (xc < in_bins).all(dim=1) & (yc < out_bins).all(dim=1)
    xc, yc = xc[keep], yc[keep]
    out = []
    for gin, gout in groups:
        gx = xc[:, list(gin)]
        gy = yc[:, list(gout)]
        out.append(
            entropy_bits(distinct_counts(gx))
            + entropy_bits(distinct_counts(gy))
            - entropy_bits(distinct_counts(torch.cat([gx, gy], dim=1)))
        )
    return out
