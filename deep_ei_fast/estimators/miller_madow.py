"""Miller-Madow: each plug-in entropy corrected by (R - 1) / (2 N) nats, R its occupied bins.

For MI = H(X) + H(Y) - H(X, Y) the corrections add up to (Rx + Ry - Rxy - 1) / (2 N) nats.
(Miller 1955.) It removes the first-order bias only, and counts only the bins the samples
reached, so it under-corrects when many cells are empty or rare.
"""
import torch

from . import plugin
from .count_tables import BITS_PER_NAT, MI, RX, RXY, RY, N, pair_summaries
from .estimator import Estimator


def mi_correction_bits(n, rx, ry, rxy):
    """(Rx + Ry - Rxy - 1) / (2 N ln 2): Miller-Madow's MI correction in bits (0 when N = 0)."""
    return torch.where(n > 0, (rx + ry - rxy - 1) / (2 * n.clamp_min(1)) * BITS_PER_NAT, 0.0)


def corrected_bits(summary):
    """Miller-Madow MI in bits from pair_summaries' columns (plug-in MI plus the correction)."""
    n, rx, ry, rxy = (summary[..., column] for column in (N, RX, RY, RXY))
    return summary[..., MI] + mi_correction_bits(n, rx, ry, rxy)


def pairwise_mi_bits(counts, in_bins, out_bins):
    """Miller-Madow MI in bits of every pair table of a tile of counts (as
    plugin.pairwise_mi_bits'), from one pass over each table."""
    return corrected_bits(pair_summaries(counts, in_bins, out_bins)[0])


def vector_mi_bits(marginals):
    """Miller-Madow vector MI from JointCodeCounts.marginal_counts (0.0 for None): the plug-in
    entropies and occupied bins from one pass over its pieces."""
    if marginals is None:
        return 0.0
    n = marginals[0]
    h, bins = plugin.vector_entropies(marginals)
    correction = (bins["x"] + bins["y"] - bins["xy"] - 1) / (2 * n) * BITS_PER_NAT  # n > 0: not None
    return h["x"] + h["y"] - h["xy"] + correction


class MillerMadow(Estimator):
    """Each plug-in entropy corrected by (R - 1) / (2 N) nats."""
    name = "miller_madow"

    def pair_values(self, tile, summary=None):
        if summary is None:
            return pairwise_mi_bits(tile.counts, tile.in_bins, tile.out_bins)
        return corrected_bits(summary)

    def vector_values(self, vector_counts):
        return [vector_mi_bits(m) for m in vector_counts.marginal_counts()]
