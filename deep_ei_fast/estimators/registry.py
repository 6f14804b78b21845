"""Estimator names -> what they count (null pairings) and how counts become bits.

"plugin": deep-ei's plug-in estimate (biased upward by about (Rx-1)(Ry-1) / (2 N ln 2) bits a
pair). "miller_madow": each entropy corrected by (R-1)/(2N). "shuffle": plug-in minus the
plug-in MI of `shuffles` shifted pairings of the same samples.
"""
from dataclasses import dataclass

import numpy as np
import torch

from . import miller_madow, plugin, shuffle, uncertainty

ESTIMATORS = ("plugin", "miller_madow", "shuffle")


def check_estimator(estimator, shuffles=1):
    """ValueError / TypeError naming the argument, before any work."""
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if not isinstance(shuffles, int) or isinstance(shuffles, bool):
        raise TypeError(f"shuffles must be an integer, got {shuffles!r}")
    if shuffles < 1:
        raise ValueError(f"shuffles must be at least 1, got {shuffles!r}")


@dataclass
class PairStatistics:
    """Per pair [n_in, n_out] float64 (bits): plug-in MI, the estimate, its standard error, the
    G-test p-value, the samples counted; and the variance of the estimates' sum (bits^2)."""
    plugin_mi: np.ndarray
    estimate: np.ndarray
    standard_error: np.ndarray
    p_value: np.ndarray
    samples: np.ndarray
    sum_variance: float


@dataclass(frozen=True)
class Estimator:
    name: str = "plugin"
    shuffles: int = 1

    def __post_init__(self):
        check_estimator(self.name, self.shuffles)

    @property
    def null_shifts(self):
        """The null pairings to count beside the real one: shift k for shuffle k."""
        return tuple(range(1, self.shuffles + 1)) if self.name == "shuffle" else ()

    def pairwise_matrix(self, pairs):
        """[n_in, n_out] float64 MI in bits of a PairCountsWithNulls (counted with null_shifts)."""
        if self.name == "miller_madow":
            return pairs.counts.per_pair(miller_madow.pairwise_mi_bits)
        matrix = plugin.pairwise_matrix(pairs.counts)
        if self.name == "shuffle":
            return shuffle.corrected(matrix, [plugin.pairwise_matrix(n) for n in pairs.nulls])
        return matrix

    def vector_eis(self, vector, nulls=()):
        """Each group's vector EI from a VectorCounts and its null VectorCounts."""
        if self.name == "miller_madow":
            return [miller_madow.vector_mi_bits(m) for m in vector.marginal_counts()]
        values = plugin.vector_eis(vector)
        if self.name == "shuffle":
            return shuffle.corrected(values, [plugin.vector_eis(n) for n in nulls]).tolist()
        return values

    def pair_statistics(self, pairs):
        """PairStatistics of a PairCountsWithNulls (counted with null_shifts)."""
        s, phi = uncertainty.pair_tables(pairs.counts)
        mi, n = s[..., uncertainty.MI], s[..., uncertainty.N]
        rx, ry, rxy = s[..., uncertainty.RX], s[..., uncertainty.RY], s[..., uncertainty.RXY]
        df = uncertainty.degrees_of_freedom(rx, ry)
        variance = uncertainty.first_order_variance(s[..., uncertainty.L_VARIANCE], n)
        sum_variance = uncertainty.sum_first_order_variance(phi, pairs.counts.total)
        if self.name == "miller_madow":
            estimate = mi + miller_madow.mi_correction_bits(*(torch_of(v) for v in (n, rx, ry, rxy))).numpy()
        elif self.name == "shuffle":
            estimate = shuffle.corrected(mi, [plugin.pairwise_matrix(p) for p in pairs.nulls])
            null = uncertainty.null_variance(df, n, self.shuffles)
            variance, sum_variance = variance + null, sum_variance + float(null.sum())
        else:
            estimate = mi
        return PairStatistics(mi, estimate, np.sqrt(variance),
                              uncertainty.g_test_p_values(mi, n, df), n, sum_variance)

    def vector_statistics(self, vector, nulls=()):
        """A VectorEstimate of each group."""
        values, plugins = self.vector_eis(vector, nulls), plugin.vector_eis(vector)
        results = []
        for k, rows in enumerate(vector.row_marginal_counts()):
            variance = uncertainty.vector_first_order_variance(rows)
            samples = 0 if rows is None else int(rows[0].sum())
            if self.name == "shuffle" and rows is not None:
                # The null's spread, estimated from its own values' first-order variance.
                variance += np.mean([uncertainty.vector_first_order_variance(n.row_marginal_counts()[k])
                                     for n in nulls]) / self.shuffles
            results.append(uncertainty.VectorEstimate(float(values[k]), float(plugins[k]),
                                                      float(np.sqrt(variance)), samples))
        return results


def torch_of(values):
    return torch.as_tensor(np.asarray(values, dtype=np.float64))
