"""A small plain-torch implementation of deep-ei's estimators, used by compare.py as the
"plain torch" column when tests/torch_reference.py is not available.

Same estimators as deep-ei 0.7.0 (see /work/shared/reference/deep_ei_0.7.0.md):
- pairwise: fast_histogram binning (float64, range widened by 1e-6), per-pair plug-in MI
  (scikit-learn's mutual_info_score formula) in bits;
- vector: deep-ei's float32 codes floor((x - l) / (h - l + 1e-4) * bins), whole-vector filter,
  plug-in H(X) + H(Y) - H(X, Y) in bits.
Written with bincount / unique only; memory is bounded by processing input neurons in blocks.
"""
import math

import torch


def _pair_codes(v, lo, hi, bins):
    """v [S, n] float -> int64 codes [S, n]; out-of-range samples get code `bins` (dropped)."""
    lo_w, hi_w = lo - 1e-6, hi + 1e-6
    d = v.to(torch.float64)
    ok = (d >= lo_w) & (d < hi_w)
    c = ((d - lo_w) * (bins / (hi_w - lo_w))).floor().clamp_(0, bins - 1).to(torch.int64)
    c[~ok] = bins
    return c


def _mi_bits(counts):
    """counts [..., RX, RY] (drop row/col already removed) -> MI in bits, float64 [...]."""
    c = counts.to(torch.float64)
    n = c.sum(dim=(-1, -2), keepdim=True)
    pi = c.sum(dim=-1, keepdim=True)
    pj = c.sum(dim=-2, keepdim=True)
    nz = c > 0
    ratio = torch.where(nz, c * n / (pi * pj).clamp_min(1), torch.ones_like(c))
    term = torch.where(nz, c / n.clamp_min(1) * torch.log(ratio), torch.zeros_like(c))
    mi = term.sum(dim=(-1, -2)).clamp_min(0)
    return mi / math.log(2)


def ei_parts_matrix_from_samples(x, y, in_range, in_bins, out_range, out_bins,
                                 block_bytes=256 * 2**20):
    """x [S, n_in], y [S, n_out] -> float64 [n_in, n_out] pairwise MI in bits."""
    S, n_in = x.shape
    n_out = y.shape[1]
    RX, RY = in_bins + 1, out_bins + 1
    cx = _pair_codes(x, *in_range, in_bins)          # [S, n_in]
    cy = _pair_codes(y, *out_range, out_bins)        # [S, n_out]
    dev = x.device  # runs where the samples are (CPU or GPU)
    base_y = (torch.arange(n_out, dtype=torch.int64, device=dev) * (RX * RY)).view(1, n_out) + cy  # [S, n_out]
    out = torch.empty((n_in, n_out), dtype=torch.float64, device=dev)
    # one block of input neurons at a time: index tensor of S * blk * n_out int64
    # and the block's int64 counters (plus float64 temporaries in _mi_bits)
    blk = max(1, min(n_in, block_bytes // max(1, 8 * S * n_out),
                     block_bytes // max(1, 8 * 4 * n_out * RX * RY)))
    for a0 in range(0, n_in, blk):
        a1 = min(n_in, a0 + blk)
        nb = a1 - a0
        idx = (torch.arange(nb, dtype=torch.int64, device=dev) * (n_out * RX * RY)).view(1, nb, 1) \
            + (cx[:, a0:a1] * RY).unsqueeze(2) + base_y.unsqueeze(1)
        counts = torch.bincount(idx.reshape(-1), minlength=nb * n_out * RX * RY)
        counts = counts.view(nb, n_out, RX, RY)[:, :, :in_bins, :out_bins]
        out[a0:a1] = _mi_bits(counts)
    return out


def _entropy_bits(counts):
    p = counts.to(torch.float64) / counts.sum()
    return float(-(p * torch.log2(p)).sum())


def _row_ids(c, base):
    """int64 codes [S, n], each in [0, base) -> int64 [S] ids, equal iff rows are equal.
    Folds columns into a mixed-radix key, re-labelling with unique() before it would overflow."""
    key = torch.zeros(c.shape[0], dtype=torch.int64)
    bound = 1
    for j in range(c.shape[1]):
        if bound * base >= 2**62:
            key = torch.unique(key, return_inverse=True)[1]
            bound = int(key.max()) + 1 if key.numel() else 1
        key = key * base + c[:, j]
        bound *= base
    return key


def _entropy_of_rows(c, base):
    return _entropy_bits(torch.unique(_row_ids(c, base), return_counts=True)[1])


def vector_ei_from_samples(x, y, in_range, in_bins, out_range, out_bins):
    """x [S, n_in], y [S, n_out] -> vector EI in bits (deep-ei's vector binning)."""
    def codes(v, lo, hi, bins):
        width = torch.tensor(hi - lo + 0.0001, dtype=torch.float32)
        c = torch.floor((v.float() - torch.tensor(lo, dtype=torch.float32)) / width
                        * torch.tensor(float(bins))).to(torch.int32)
        return c
    cx = codes(x, *in_range, in_bins)
    cy = codes(y, *out_range, out_bins)
    keep = (cx < in_bins).all(dim=1) & (cy < out_bins).all(dim=1)
    cx, cy = cx[keep].long(), cy[keep].long()
    # codes below 0 are kept (deep-ei's behaviour): shift them into [0, base)
    lo = min(int(cx.min()) if cx.numel() else 0, int(cy.min()) if cy.numel() else 0, 0)
    base = max(in_bins, out_bins) - lo
    cx, cy = cx - lo, cy - lo
    hx = _entropy_of_rows(cx, base)
    hy = _entropy_of_rows(cy, base)
    hxy = _entropy_of_rows(torch.cat([cx, cy], dim=1), base)
    return hx + hy - hxy
