"""deep-ei's plug-in estimates: MI and entropies from the empirical frequencies, in bits."""
import numpy as np
import torch

from ..engine import ops


def pairwise_mi_bits(counts, in_bins, out_bins):
    """Plug-in MI in bits of every pair table of a tile (PairCounts.per_pair's estimate)."""
    return ops.pairwise_mi(counts, in_bins, out_bins)


# torch reduces tensors of fewer elements than its grain size (32768) on one thread; larger ones
# are split by thread, so their float sum depends on torch.set_num_threads. Summing fixed chunks
# below the grain, then the chunk sums in order, gives the same float for any thread count (and
# today's float for tables of up to this many rows).
SERIAL_SUM_ELEMENTS = 16384


def _sum_any_threads(values):
    if values.numel() <= SERIAL_SUM_ELEMENTS:
        return values.sum()
    return torch.stack([chunk.sum() for chunk in values.split(SERIAL_SUM_ELEMENTS)]).sum()


def entropy_bits(counts):
    """Plug-in entropy in bits of a tensor of positive counts (the same float for every
    thread count)."""
    if counts.numel() == 0:
        return 0.0
    counts = counts.to(torch.float64)
    p = counts / counts.sum()  # integers below 2^53: exact in any order
    return float(-_sum_any_threads(p * torch.log2(p)))


def vector_mi_bits(marginals):
    """H(X) + H(Y) - H(X, Y) in bits from JointCodeCounts.marginal_counts (0.0 for None)."""
    if marginals is None:
        return 0.0
    x_counts, y_counts, xy_counts = marginals
    return entropy_bits(x_counts) + entropy_bits(y_counts) - entropy_bits(xy_counts)


def vector_eis(vector_counts):
    """The plug-in vector EI of every group of a VectorCounts, as a list of floats."""
    return [vector_mi_bits(m) for m in vector_counts.marginal_counts()]


def sum_in_order(matrix):
    """Sum of a matrix in row-major order, one addition at a time, as deep-ei adds up pairs."""
    total = 0.0
    for value in np.asarray(matrix, dtype=np.float64).ravel().tolist():
        total += value
    return total
