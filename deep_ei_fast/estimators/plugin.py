"""deep-ei's plug-in estimates: MI and entropies from the empirical frequencies, in bits; the
Plugin estimator (biased upward by about (Rx - 1)(Ry - 1) / (2 N ln 2) bits a pair)."""
import numpy as np
import torch

from ..engine import ops
from .count_tables import MI
from .estimator import Estimator


def pairwise_mi_bits(counts, in_bins, out_bins):
    """Plug-in MI in bits of every pair table of a tile of counts [na, nb, RX, RY], with int32
    out_bins [nb]: float64 [na, nb]."""
    return ops.pairwise_mi(counts, in_bins, out_bins)


def mi_values_problem(values):
    """What no tile of plug-in MI could hold (a checkpoint's check): negative MI."""
    lowest = float(np.min(values, initial=0.0))
    return f"a plug-in MI of {lowest} bits (below 0)" if lowest < 0 else None


# torch reduces tensors of fewer elements than its grain size (32768) on one thread; larger ones
# are split by thread, so their float sum depends on torch.set_num_threads. Summing fixed chunks
# below the grain, then the chunk sums in order, gives the same float for any thread count (and
# today's float for tables of up to this many rows).
SERIAL_SUM_ELEMENTS = 16384


class EntropySum:
    """Plug-in entropy in bits of a count vector handed over in consecutive pieces, with a
    known total: the same float however the vector is cut into pieces, and for every thread
    count (entropy_bits is this with one piece). Every operation runs on the same fixed chunks
    of the whole vector (torch's log2 may round a vector's tail differently from its body)."""

    def __init__(self, total):
        self.total = float(total)  # integer counts below 2^53: exact
        self.carry = torch.zeros(0, dtype=torch.int64)
        self.chunk_sums = []
        self.elements = 0

    def _chunk_sum(self, counts):
        p = counts.to(torch.float64) / self.total
        return (p * torch.log2(p)).sum()

    def add(self, counts):
        if counts.dim() == 1 and counts.numel() > 1 and counts.stride(0) == 0:
            self._add_repeated(counts[:1].cpu(), counts.numel())
            return
        counts = torch.cat([self.carry, counts.cpu()])
        whole = counts.numel() // SERIAL_SUM_ELEMENTS * SERIAL_SUM_ELEMENTS
        if whole:
            self.chunk_sums.extend(self._chunk_sum(c) for c in counts[:whole].split(SERIAL_SUM_ELEMENTS))
        self.carry = counts[whole:]

    def _add_repeated(self, value, n):
        """Adds n copies of the one-element tensor `value` (a piece given as an expanded
        tensor): its whole chunks are all alike, so one chunk sum stands for each of them (the
        same floats as summing every chunk)."""
        fill = min(n, -self.carry.numel() % SERIAL_SUM_ELEMENTS)  # completes the carry's chunk
        if fill:
            self.add(value.expand(fill).contiguous())
            n -= fill
        whole = n // SERIAL_SUM_ELEMENTS
        if whole:
            chunk_sum = self._chunk_sum(value.expand(SERIAL_SUM_ELEMENTS).contiguous())
            self.chunk_sums.extend([chunk_sum] * whole)
        if n > whole * SERIAL_SUM_ELEMENTS:  # the carry is empty here
            self.carry = value.expand(n - whole * SERIAL_SUM_ELEMENTS).contiguous()

    def bits(self):
        sums = self.chunk_sums + ([self._chunk_sum(self.carry)] if self.carry.numel() else [])
        if not sums:
            return 0.0
        return float(-_sum_any_threads(torch.stack(sums)))


def _sum_any_threads(values):
    if values.numel() <= SERIAL_SUM_ELEMENTS:
        return values.sum()
    return torch.stack([chunk.sum() for chunk in values.split(SERIAL_SUM_ELEMENTS)]).sum()


def entropy_bits(counts):
    """Plug-in entropy in bits of a tensor of positive counts (the same float for every
    thread count)."""
    if counts.numel() == 0:
        return 0.0
    entropy = EntropySum(int(counts.sum()))
    entropy.add(counts)
    return entropy.bits()


def vector_entropies(marginals):
    """({"x" / "y" / "xy": plug-in entropy in bits}, {the same names: occupied bins}) from
    JointCodeCounts.marginal_counts' (total, pieces), consuming the pieces once."""
    total, pieces = marginals
    entropies = {name: EntropySum(total) for name in ("x", "y", "xy")}
    bins = dict.fromkeys(entropies, 0)
    for name, counts in pieces:
        entropies[name].add(counts)
        bins[name] += counts.numel()
    return {name: entropy.bits() for name, entropy in entropies.items()}, bins


def vector_mi_bits(marginals):
    """H(X) + H(Y) - H(X, Y) in bits from JointCodeCounts.marginal_counts (0.0 for None):
    (total, pieces), each piece a (marginal name "x" / "y" / "xy", counts) in table order."""
    if marginals is None:
        return 0.0
    h = vector_entropies(marginals)[0]
    return h["x"] + h["y"] - h["xy"]


def vector_eis(vector_counts):
    """The plug-in vector EI of every group of a VectorCounts, as a list of floats."""
    return [vector_mi_bits(m) for m in vector_counts.marginal_counts()]


def sum_in_order(matrix):
    """Sum of a matrix in row-major order, one addition at a time, as deep-ei adds up pairs."""
    total = 0.0
    for value in np.asarray(matrix, dtype=np.float64).ravel().tolist():
        total += value
    return total


class Plugin(Estimator):
    """deep-ei's plug-in estimate: MI of the empirical frequencies."""
    name = "plugin"

    def pair_values(self, tile, summary=None):
        if summary is not None:  # the same bits: both kernels sum csrc's mutual_information.h terms
            return summary[..., MI]
        return pairwise_mi_bits(tile.counts, tile.in_bins, tile.out_bins)

    def values_problem(self, values):
        return mi_values_problem(values)

    def vector_values(self, vector_counts):
        return vector_eis(vector_counts)
