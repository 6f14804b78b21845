"""Error bars and significance from the same run as the estimate (no extra sample passes).

pairwise_stats: every pair's plug-in and corrected MI, standard error and G-test p-value, with
EI_parts, its standard error and the pairs significant under Benjamini-Hochberg. vector_stats
and sensitivity_stats do the same for vector EI and sensitivity. Formulas and their limits:
estimators/uncertainty.py and docs/estimators.rst.

device=None (unlike deep-ei's functions, whose default is 'cpu'): the device of the layer's
parameters (in_layer to layer), the CPU when they have none.
"""
from dataclasses import dataclass

import numpy as np

from ..engine.settings import MeasurementSettings
from ..engine.threads import load_aware
from ..estimators.uncertainty import VectorEstimate, benjamini_hochberg
from .arguments import check_groups, check_positive_int
from .prepare import open_measurement
from .sensitivity import sensitivity_matrix_of


@dataclass
class PairwiseStats:
    """Per-pair arrays are float64 [n_in, n_out]; information in bits."""
    estimator: str
    plugin_mi: np.ndarray  # deep-ei's plug-in MI of each pair
    mi: np.ndarray  # the estimator's MI of each pair
    standard_error: np.ndarray  # of mi (delta method; see estimators/uncertainty.py)
    p_value: np.ndarray  # G-test of independence of each pair
    samples: int  # samples drawn
    q: float  # Benjamini-Hochberg false discovery rate of `significant`
    significant: np.ndarray  # bool [n_in, n_out]: pairs rejected as independent at q
    ei_parts_standard_error: float  # of ei_parts, with the pairs' correlations

    @property
    def ei_parts(self):
        """Sum of mi over pairs (no 0.01 zeroing)."""
        return float(self.mi.sum())

    @property
    def significant_pairs(self):
        return int(self.significant.sum())

    def interval(self, z=1.959963984540054):
        """(low, high) of EI_parts at the normal quantile z (95% by default)."""
        half = z * self.ei_parts_standard_error
        return self.ei_parts - half, self.ei_parts + half


def _check_q(q):
    if not isinstance(q, (int, float)) or isinstance(q, bool) or not 0 < q < 1:
        raise ValueError(f"q must be a number in (0, 1), got {q!r}")


def _feed(m, consumer, samples):
    with m.bar(samples) as bar:
        m.feed(samples, [consumer], bar)


def _pairwise_result(estimator, statistics, samples, q):
    """PairwiseStats from a list of PairStatistics of independent runs (rows of the matrix)."""
    plugin_mi, mi, se, p = (np.concatenate([getattr(s, name) for s in statistics]) for name in
                            ("plugin_mi", "estimate", "standard_error", "p_value"))
    sum_variance = sum(s.sum_variance for s in statistics)
    return PairwiseStats(estimator, plugin_mi, mi, se, p, samples, q, benjamini_hochberg(p, q),
                         float(np.sqrt(sum_variance)))


@load_aware
def pairwise_stats(layer, topology, samples=100000, batch_size=20, in_layer=None, in_range=None,
                   in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                   rng="philox", seed=None, progress=True, memory_bound=None,
                   estimator="shuffle", shuffles=1, q=0.05, process_group=None, checkpoint=None):
    r"""PairwiseStats of ``layer`` from ``samples`` noise samples (arguments as ei_parts';
    ``checkpoint`` as ei_parts_matrix's, in a directory of its own: its tiles hold the
    statistics' tables)."""
    _check_q(q)
    check_positive_int("samples", samples)
    settings = MeasurementSettings.of(locals())
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description="pairwise_stats", dynamic_out=True, standard_errors=True,
                          checkpoint=checkpoint, checkpoint_function="pairwise_stats") as m:
        pairs = m.pair_counts(m.pair_binning(samples))
        _feed(m, pairs, samples)
        return _pairwise_result(estimator, [m.pair_estimate(pairs)], m.samples_drawn, q)


@load_aware
def vector_stats(layer, topology, samples=100000, batch_size=20, in_layer=None, in_range=None,
                 in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                 rng="philox", seed=None, progress=True, estimator="shuffle", shuffles=1,
                 groups=None, process_group=None):
    r"""A VectorEstimate (value, plug-in value, standard error, samples kept) of the vector EI
    of ``layer``, or a list of them, one per (input group, output group) of ``groups``."""
    check_positive_int("samples", samples)
    settings = MeasurementSettings.of(locals())
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description="vector_stats", standard_errors=True) as m:
        # The same group checks as eis_between_groups.
        vectors = m.vector_counts(None if groups is None else check_groups(groups, m.spec.n_in, m.spec.n_out))
        _feed(m, vectors, samples)
        results = m.vector_estimate(vectors)
    return results[0] if groups is None else results


@load_aware
def sensitivity_stats(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                      in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                      rng="philox", seed=None, progress=True, memory_bound=None,
                      estimator="shuffle", shuffles=1, q=0.05, process_group=None):
    r"""PairwiseStats of the sensitivity matrix (one input firing at a time, ``samples`` per
    input; arguments as sensitivity_matrix'); ``ei_parts`` is then the sensitivity."""
    _check_q(q)
    settings = MeasurementSettings.of(locals())
    statistics = sensitivity_matrix_of(layer, topology, settings, in_layer=in_layer,
                                       activation=activation, matrix_variant=True, statistics=True)
    return _pairwise_result(estimator, statistics, samples, q)


__all__ = ["PairwiseStats", "VectorEstimate", "pairwise_stats", "sensitivity_stats", "vector_stats"]
