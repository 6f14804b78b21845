"""Standard errors and independence tests from the counts of one run, with no extra counters.

Standard error: the delta method. The plug-in MI is a smooth function of the cell frequencies;
to first order MI_hat - MI is the mean over samples of L(x, y) - MI, L = log2(p_xy / (p_x p_y)),
so Var(MI_hat) = Var(L) / N. Var(L) is taken over the first KEPT_SAMPLES samples (the pair
counts keep their codes; L is read from the full counts at their cells): no per-block counters
(memory_bound untouched), no second pass, no float pass over the counters, and a relative
error of about sqrt(2 / 512) = 6% in the variance, 3% in the standard error (L in float32).
The corrections (Miller-Madow's, the shuffle's mean null) are nearly constant at a given N, so
they add no first-order variance,
except the shuffle's null itself: its plug-in MI is chi-square distributed, 2 df / (2 N ln 2)^2
per shuffle, averaged over `shuffles`. For an independent pair the first-order term
degenerates and its empirical value is about df / (N ln 2)^2 (bits), twice the chi-square
variance of the plug-in: intervals there are conservative.

A sum of pairs (EI_parts) is not a sum of independent estimates: pairs share inputs, and
outputs are correlated. Its first-order variance is Var(Phi) / N with Phi(sample) = the sum over
pairs of L_AB at the sample's cells, over the same kept samples.

Independence: the G-test. G = 2 N ln(2) MI_bits is asymptotically chi-square with
df = (Rx - 1)(Ry - 1) under independence (Rx, Ry: occupied bins); p = P(chi2_df >= G).
"""
import math
from dataclasses import dataclass

import numpy as np
import torch

from .count_tables import BITS_PER_NAT, L_VARIANCE, MI, RX, RXY, RY, N  # noqa: F401  (the summaries' columns)

KEPT_SAMPLES = 512  # the first samples whose codes are kept for Var(L) and Var(Phi)


def sum_first_order_variance(phi, samples):
    """Var(Phi) / N in bits^2 (0 with fewer than 2 kept samples)."""
    return float(np.var(phi, ddof=1)) / samples if phi.size > 1 and samples > 0 else 0.0


def first_order_variance(l_variance, n):
    """Var(L) / N in bits^2 (0 where N = 0), elementwise numpy."""
    n = np.asarray(n, dtype=np.float64)
    return np.where(n > 0, l_variance / np.maximum(n, 1.0), 0.0)


def difference_standard_error(error_a, error_b, weight=1.0):
    """A bound on the standard error of A - weight * B from theirs (None if either is None):
    error_a + |weight| error_b. By Cauchy-Schwarz, sd(A - wB) <= sd(A) + |w| sd(B) for any
    correlation of A and B, and the plane's differences are of correlated estimates whose
    correlation no run estimates: EI and EI_parts come from the same samples, and with one philox
    seed the sensitivity's input noise at (sample, neuron) is EI's. Adding variances (independence)
    would understate the error under a negative correlation; the bound never does, at the cost of
    overstating it up to sqrt(2)-fold for independent estimates of equal error."""
    if error_a is None or error_b is None:
        return None
    return error_a + abs(weight) * error_b


def degrees_of_freedom(rx, ry):
    return np.maximum(rx - 1, 0) * np.maximum(ry - 1, 0)


def null_variance(df, n, shuffles):
    """Variance in bits^2 of the mean plug-in MI of `shuffles` independent null pairings."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    return 2.0 * df * (BITS_PER_NAT / (2.0 * n)) ** 2 / shuffles


def g_test_p_values(mi_bits, n, df):
    """P(chi2_df >= 2 N ln2 MI) elementwise (1.0 where df = 0: a constant side is independent)."""
    mi_bits, n, df = (torch.as_tensor(np.asarray(v, dtype=np.float64)) for v in (mi_bits, n, df))
    g = 2.0 * n * math.log(2.0) * mi_bits.clamp_min(0.0)
    p = torch.special.gammaincc(torch.clamp(df, min=1.0) / 2.0, g / 2.0)
    return torch.where(df > 0, p, torch.ones_like(p)).numpy()


def benjamini_hochberg(p_values, q):
    """Boolean array: which hypotheses Benjamini-Hochberg rejects at false discovery rate q."""
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return np.zeros(p.shape, dtype=bool)
    order = np.argsort(flat, kind="stable")
    below = flat[order] <= q * np.arange(1, m + 1) / m
    rejected = np.zeros(m, dtype=bool)
    if below.any():
        rejected[order[:np.nonzero(below)[0][-1] + 1]] = True
    return rejected.reshape(p.shape)


@dataclass
class VectorEstimate:
    """A vector EI with its plug-in value and standard error: what :func:`vector_stats` returns.

    Attributes
    ----------
    value : float
        The estimator's vector EI in bits.
    plugin : float
        deep-ei's plug-in vector EI of the same counts, in bits.
    standard_error : float
        The standard error of ``value`` in bits (delta method; for the shuffle estimator, plus
        the null's spread).
    samples : int
        The samples counted: those deep-ei's vector binning keeps (no code at or above its
        bin count).

    Examples
    --------
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2))  # each output copies its input
    >>> topology = deep_ei.topology_of(model, torch.zeros(1, 2))
    >>> estimate = deep_ei.vector_stats(model[0], topology, samples=10000, in_bins=8, out_bins=8,
    ...                                 seed=0, estimator="plugin")
    >>> estimate  # doctest: +ELLIPSIS
    VectorEstimate(value=5.99..., plugin=5.99..., standard_error=0.00..., samples=10000)
    >>> half = 1.96 * estimate.standard_error  # a 95% interval
    >>> round(estimate.value - half, 2), round(estimate.value + half, 2)
    (5.99, 6.0)
    """
    value: float
    plugin: float
    standard_error: float
    samples: int


def vector_first_order_variance(rows):
    """Delta-method variance (bits^2) of the plug-in vector MI from row_marginal_counts."""
    if rows is None:
        return 0.0
    # numpy on the host, not torch: torch splits a reduction of over 32768 elements by thread
    # (and rounds log2's vector tails by where each thread's part ends), so its float depended
    # on torch.set_num_threads and on the device; numpy's single-threaded pairwise sum does not.
    xy, x, y = (t.cpu().numpy().astype(np.float64) for t in rows)
    n = float(xy.sum())
    log_ratio = np.log2(xy * n / (x * y))
    p = xy / n
    mi = float((p * log_ratio).sum())
    return max(float((p * log_ratio**2).sum()) - mi**2, 0.0) / n
