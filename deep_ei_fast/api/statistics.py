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

from ..engine.threads import load_aware
from ..estimators.uncertainty import VectorEstimate, benjamini_hochberg
from .arguments import check_groups, check_positive_int
from .checkpointing import open_checkpoint
from .docstrings import shared_entries
from .estimated import VectorWithNulls, estimator_of, pair_counts
from .prepare import open_measurement
from .sensitivity import _settings as measurement_settings, sensitivity_matrix_of


@shared_entries
@dataclass
class PairwiseStats:
    """Every pair's MI with its standard error and significance, and their sum with its own.

    What :func:`pairwise_stats` and :func:`sensitivity_stats` return, from the counts of one
    run. Per-pair arrays are float64 of shape ``(n_in, n_out)`` (row: input neuron, column:
    output neuron); information is in bits.

    Attributes
    ----------
    estimator : str
        The estimator behind ``mi`` (:doc:`estimators`).
    plugin_mi : numpy.ndarray
        deep-ei's plug-in MI of each pair.
    mi : numpy.ndarray
        The estimator's MI of each pair.
    standard_error : numpy.ndarray
        The standard error of each ``mi`` (delta method; for the shuffle estimator, plus the
        null's variance).
    p_value : numpy.ndarray
        The G-test p-value of each pair's independence (1.0 where either side occupies a
        single bin).
    samples : int
        The noise samples counted (per input neuron for sensitivity_stats).
    q : float
        The Benjamini-Hochberg false discovery rate behind ``significant``.
    significant : numpy.ndarray
        bool: the pairs rejected as independent at false discovery rate ``q``.
    ei_parts_standard_error : float
        The standard error of ``ei_parts``, with the pairs' correlations (pairs share inputs,
        outputs are correlated).

    Examples
    --------
    {example_copy_layer}
    >>> stats = deep_ei.pairwise_stats(model[0], topology, samples=10000, in_bins=8, out_bins=8, seed=0)
    >>> stats.significant
    array([[ True, False],
           [False,  True]])
    >>> stats.significant_pairs
    2
    >>> low, high = stats.interval()
    >>> round(low, 2), round(stats.ei_parts, 2), round(high, 2)
    (5.99, 5.99, 6.0)
    """
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
        """float: the sum of ``mi`` over the pairs, in bits (no 0.01 zeroing): EI_parts, or for
        sensitivity_stats the sensitivity."""
        return float(self.mi.sum())

    @property
    def significant_pairs(self):
        """int: how many pairs are ``significant``."""
        return int(self.significant.sum())

    def interval(self, z=1.959963984540054):
        """The normal confidence interval of ``ei_parts``.

        Parameters
        ----------
        z : float, default 1.959963984540054
            The standard normal quantile: the default gives a 95% interval.

        Returns
        -------
        tuple of (float, float)
            ``(ei_parts - z * ei_parts_standard_error, ei_parts + z * ei_parts_standard_error)``
            in bits.
        """
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
@shared_entries
def pairwise_stats(layer, topology, samples=100000, batch_size=20, in_layer=None, in_range=None,
                   in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                   rng="philox", seed=None, progress=True, memory_bound=None,
                   estimator="shuffle", shuffles=1, q=0.05, process_group=None, checkpoint=None):
    r"""EI_parts of ``layer`` with its standard error, and every pair's MI, error and significance.

    One pass of ``samples`` noise samples, as :func:`ei_parts_matrix` counts them: the
    standard errors (delta method) and G-test p-values come from the same counts, with no
    second pass (:doc:`estimators`). Not in deep-ei; its arguments are ``ei_parts_matrix``'s,
    but ``samples`` must be given, ``estimator`` defaults to ``"shuffle"`` and ``device`` to
    the layer's.

    Parameters
    ----------
    {layer}
    {topology}
    samples : int, default 100000
        How many noise samples to draw, at least 1 (no sample-count rule: None raises
        TypeError).
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range_dynamic}
    {out_bins_dynamic}
    {activation}
    {device_model}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {estimator_stats}
    {shuffles}
    q : float, default 0.05
        The false discovery rate at which Benjamini-Hochberg picks the ``significant`` pairs,
        in (0, 1) (ValueError otherwise).
    {process_group}
    {checkpoint}
        The directory must be one of pairwise_stats' own: its tiles hold the statistics'
        tables, not ``ei_parts_matrix``'s counts.

    Returns
    -------
    PairwiseStats
        Every pair's plug-in and estimated MI, standard error and p-value, the significant
        pairs, and ``ei_parts`` with ``ei_parts_standard_error``.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_untraced}

    Examples
    --------
    {example_copy_layer}
    >>> stats = deep_ei.pairwise_stats(model[0], topology, samples=10000, in_bins=8, out_bins=8, seed=0)
    >>> round(stats.ei_parts, 2), round(stats.ei_parts_standard_error, 4)
    (5.99, 0.0024)
    >>> stats.plugin_mi.round(3)  # deep-ei's estimate: 0.003 bits on the independent pairs
    array([[3.   , 0.003],
           [0.003, 2.999]])
    >>> stats.p_value.round(2)
    array([[0.  , 0.74],
           [0.74, 0.  ]])
    """
    _check_q(q)
    check_positive_int("samples", samples)
    settings = measurement_settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                    device, rng, seed, progress, memory_bound, estimator, shuffles,
                                    process_group)
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="pairwise_stats", dynamic_out=True)
    with open_checkpoint(checkpoint, "pairwise_stats", m, memory_bound):
        pairs = pair_counts(m, m.pair_binning(samples))
        _feed(m, pairs, samples)
        return _pairwise_result(estimator, [estimator_of(m.settings).pair_statistics(pairs)],
                                m.samples_drawn, q)


@load_aware
@shared_entries
def vector_stats(layer, topology, samples=100000, batch_size=20, in_layer=None, in_range=None,
                 in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                 rng="philox", seed=None, progress=True, estimator="shuffle", shuffles=1,
                 groups=None, process_group=None):
    r"""The vector EI of ``layer`` (or of groups of its neurons) with its standard error.

    One pass of ``samples`` noise samples, counted as :func:`ei` (or
    :func:`eis_between_groups`) counts them; the standard error is the delta method's, from
    the same counts (:doc:`estimators`). Not in deep-ei; ``samples`` must be given,
    ``estimator`` defaults to ``"shuffle"`` and ``device`` to the layer's.

    Parameters
    ----------
    {layer}
    {topology}
    samples : int, default 100000
        How many noise samples to draw, at least 1 (no sample-count rule: None raises
        TypeError).
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range}
    {out_bins}
    {activation}
    {device_model}
    {rng}
    {seed}
    {progress}
    {estimator_stats}
    {shuffles}
    groups : list of (sequence of int, sequence of int), optional
        As in :func:`eis_between_groups`: the (input indices, output indices) of each group,
        checked the same way. None: the whole layer.
    {process_group}

    Returns
    -------
    VectorEstimate or list of VectorEstimate
        The estimate of the whole layer, or with ``groups`` one per group, in their order.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_untraced}

    Examples
    --------
    {example_copy_layer}
    >>> estimate = deep_ei.vector_stats(model[0], topology, samples=10000, in_bins=8, out_bins=8,
    ...                                 seed=0, estimator="plugin")
    >>> round(estimate.value, 2), round(estimate.standard_error, 4), estimate.samples
    (6.0, 0.0011, 10000)

    The shuffle estimator removes the bias of an independent pairing, which over-corrects a
    deterministic map such as this one (:doc:`estimators`); on groups:

    >>> both = deep_ei.vector_stats(model[0], topology, samples=10000, in_bins=8, out_bins=8,
    ...                             seed=0, groups=[((0,), (0,)), ((0,), (1,))])
    >>> [round(group.value, 2) for group in both]
    [3.0, 0.0]
    """
    check_positive_int("samples", samples)
    settings = measurement_settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                    device, rng, seed, progress, None, estimator, shuffles,
                                    process_group)
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="vector_stats")
    # The same group checks as eis_between_groups.
    vector = VectorWithNulls(m, None if groups is None else check_groups(groups, m.spec.n_in, m.spec.n_out))
    _feed(m, vector, samples)
    results = vector.statistics()
    return results[0] if groups is None else results


@load_aware
@shared_entries
def sensitivity_stats(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                      in_bins=64, out_range=None, out_bins=64, activation=None, device=None, *,
                      rng="philox", seed=None, progress=True, memory_bound=None,
                      estimator="shuffle", shuffles=1, q=0.05, process_group=None):
    r"""The sensitivity of ``layer`` with its standard error, and every pair's MI, error and significance.

    :func:`sensitivity_matrix`'s counts (one input firing at a time, ``samples`` per input
    neuron) summarized as :func:`pairwise_stats` summarizes a layer's: the result's
    ``ei_parts`` is the sensitivity. Not in deep-ei; ``estimator`` defaults to ``"shuffle"``
    and ``device`` to the layer's.

    Parameters
    ----------
    {layer}
    {topology}
    {samples_sensitivity}
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range_sensitivity}
    {out_bins_sensitivity}
    {activation}
    {device_model}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {estimator_stats}
    {shuffles}
    q : float, default 0.05
        The false discovery rate at which Benjamini-Hochberg picks the ``significant`` pairs,
        in (0, 1) (ValueError otherwise).
    {process_group}

    Returns
    -------
    PairwiseStats
        Per pair (input A firing alone, output B): the plug-in and estimated MI, standard
        error and p-value; ``ei_parts`` is the sensitivity and ``ei_parts_standard_error`` its
        standard error.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_untraced}

    Examples
    --------
    {example_copy_layer}
    >>> stats = deep_ei.sensitivity_stats(model[0], topology, samples=1000, in_bins=8, out_bins=8,
    ...                                   seed=0, estimator="plugin")
    >>> round(stats.ei_parts, 1), stats.significant_pairs
    (6.0, 2)
    """
    _check_q(q)
    settings = measurement_settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                    device, rng, seed, progress, memory_bound, estimator, shuffles,
                                    process_group)
    statistics = sensitivity_matrix_of(layer, topology, settings, in_layer=in_layer,
                                       activation=activation, matrix_variant=True, statistics=True)
    return _pairwise_result(estimator, statistics, samples, q)


__all__ = ["PairwiseStats", "VectorEstimate", "pairwise_stats", "sensitivity_stats", "vector_stats"]
