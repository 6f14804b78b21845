"""The shuffle estimator: plug-in MI minus the mean plug-in MI of shuffled pairings.

Each null pairs every output with another sample's input (engine/null_pairing.py), so it has
the real pairing's marginals and sample count but no dependence: its plug-in MI is the
plug-in's bias at this N, including the part Miller-Madow's first order misses (Panzeri et
al. 2007 discuss shuffle-based corrections).
"""
import numpy as np

from .plugin import Plugin
from .uncertainty import null_variance, vector_first_order_variance


def corrected(real, nulls):
    """real - mean(nulls), elementwise (float64 numpy arrays or lists of floats)."""
    real = np.asarray(real, dtype=np.float64)
    if not nulls:
        return real
    return real - np.mean([np.asarray(n, dtype=np.float64) for n in nulls], axis=0)


class Shuffle(Plugin):
    """The plug-in MI minus the mean plug-in MI of ``shuffles`` null pairings (shifts 1..shuffles)."""
    name = "shuffle"

    @property
    def null_shifts(self):
        return tuple(range(1, self.shuffles + 1))

    def combined(self, real, nulls):
        return corrected(real, nulls)

    def null_variance(self, df, n):
        """The mean null's own variance: each null's plug-in MI is chi-square distributed."""
        return null_variance(df, n, self.shuffles)

    def vector_null_variance(self, k, nulls):
        """The null's spread for group k, estimated from its own values' first-order variance."""
        return np.mean([vector_first_order_variance(n.row_marginal_counts()[k]) for n in nulls]) / self.shuffles
