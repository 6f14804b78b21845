"""Any estimator's estimates with their standard errors and independence tests, from the same
counts (estimators/uncertainty.py's formulas): the estimator interface of estimator.py, whose
results are PairStatistics (pairs) and VectorEstimates (vector tables).

Each tile of the real pairing gives count_tables.pair_summaries (plug-in MI, samples, occupied
bins, Var(L) at the kept samples), the kept samples' Phi and the estimator's own values (read
from the summaries where the estimator can); null tiles give what the estimator computes.
"""
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.pair_results import PER_KEPT_SAMPLE, PER_PAIR, PerPair
from .count_tables import L_VARIANCE, MI, RX, RY, N, pair_summaries, summaries_problem
from .plugin import vector_eis
from .uncertainty import (
    KEPT_SAMPLES,
    VectorEstimate,
    degrees_of_freedom,
    first_order_variance,
    g_test_p_values,
    sum_first_order_variance,
    vector_first_order_variance,
)

SUMMARY_COLUMNS = 6


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


class WithStandardErrors:
    """``estimator``'s results with their standard errors (PairStatistics, VectorEstimates)."""
    kept_samples = KEPT_SAMPLES

    def __init__(self, estimator):
        self.estimator = estimator
        self.name = estimator.name

    @property
    def null_shifts(self):
        return self.estimator.null_shifts

    def tile_key(self, real):
        return f"{self.name}_pair_summary" if real else self.estimator.tile_key(real)

    def tile_layouts(self, real):
        if not real:
            return self.estimator.tile_layouts(real)
        return PerPair((SUMMARY_COLUMNS,)), PER_KEPT_SAMPLE, PER_PAIR

    def per_tile(self, tile):
        """Real tiles: (summaries [na, nb, 6], Phi [M], the estimator's values [na, nb])."""
        if not tile.real:
            return self.estimator.per_tile(tile)
        summary, phi = pair_summaries(tile.counts, tile.in_bins, tile.out_bins, tile.x_codes, tile.y_codes)
        values = self.estimator.pair_values(tile, summary)
        return summary.cpu().numpy(), phi.cpu().to(torch.float64).numpy(), values.cpu().numpy()

    def tile_problem(self, arrays, real):
        if not real:
            return self.estimator.tile_problem(arrays, real)
        return summaries_problem(arrays) or self.estimator.values_problem(arrays[2])

    def finish(self, parts):
        """PairStatistics of every pair."""
        s, phi, values = parts.real
        mi, n = s[..., MI], s[..., N]
        df = degrees_of_freedom(s[..., RX], s[..., RY])
        variance = first_order_variance(s[..., L_VARIANCE], n)
        sum_variance = sum_first_order_variance(phi, parts.samples)
        estimate = self.estimator.combined(values, [null[0] for null in parts.nulls])
        null = self.estimator.null_variance(df, n)
        if null is not None:
            variance, sum_variance = variance + null, sum_variance + float(null.sum())
        return PairStatistics(mi, estimate, np.sqrt(variance), g_test_p_values(mi, n, df), n, sum_variance)

    def vector_eis(self, vectors):
        return self.estimator.vector_eis(vectors)

    def finish_vectors(self, vectors):
        """A VectorEstimate of each group."""
        values, plugins = self.estimator.vector_eis(vectors), vector_eis(vectors.counts)
        results = []
        for k, rows in enumerate(vectors.counts.row_marginal_counts()):
            variance = vector_first_order_variance(rows)
            samples = 0 if rows is None else int(rows[0].sum())
            if rows is not None:
                null = self.estimator.vector_null_variance(k, vectors.nulls)
                if null is not None:
                    variance += null
            results.append(VectorEstimate(float(values[k]), float(plugins[k]), float(np.sqrt(variance)), samples))
        return results

