"""The EI functions of deep-ei 0.7.0: same signatures and defaults, plus keyword-only
rng / seed / progress / max_samples (and memory_bound for pairwise counts: bytes of pair
counters and cached codes held at once; None, the default, is the device's: DEFAULT_MEMORY_BOUND =
2 GiB on the CPU, 3/4 of the free memory on CUDA) and process_group (a torch.distributed group
sharing the work, every rank returning the one-process result: docs/distributed.rst). ei_parts
and ei_parts_matrix also take checkpoint=PATH (api/checkpointing.py, docs/long_runs.rst)."""
import math
from typing import NamedTuple, Optional

from ..engine.memory_share import memory_share
from ..engine.settings import MeasurementSettings
from ..engine.threads import load_aware
from ..estimators.plugin import sum_in_order
from .arguments import check_extrapolate, check_groups
from .checkpointing import check_checkpoint, open_checkpoint
from .docstrings import shared_entries
from .estimated import VectorWithNulls, estimator_of, pair_counts
from .prepare import open_measurement
from .sample_rules import (
    DEFAULT_MAX_SAMPLES,
    EXTRAPOLATION_POINTS,
    EXTRAPOLATION_ROUND,
    FIRST_ROUND,
    ei_parts_rule,
    extrapolate as extrapolate_curve,
    fixed_or_converged,
    vector_rule,
)

SMALL_EI_PARTS = 0.01  # deep-ei reports EI_parts below this as 0.0


def _zero_small(value):
    return 0.0 if value < SMALL_EI_PARTS else value


def _pairwise_total(pairs, settings):
    """(EI_parts, MI matrix) of the pair counts so far (a PairCountsWithNulls), under the
    settings' estimator."""
    matrix = estimator_of(settings).pairwise_matrix(pairs)
    return sum_in_order(matrix), matrix


def _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device, rng,
              seed, progress, threshold, max_samples, memory_bound=None, estimator="plugin",
              shuffles=1, process_group=None):
    """The MeasurementSettings of an EI function's arguments."""
    return MeasurementSettings(
        samples=samples, batch_size=batch_size, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, device=device, rng=rng, seed=seed,
        progress=progress, memory_bound=memory_bound, threshold=threshold, max_samples=max_samples,
        estimator=estimator, shuffles=shuffles, process_group=process_group)


def _pairwise_matrix(layer, topology, settings, in_layer, activation, description, checkpoint=None):
    """The MI matrix of every pair, from settings.samples or ei_parts' convergence rule; with
    a checkpoint directory, its finished tiles are loaded and the others saved."""
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description=description, dynamic_out=True)
    # One checkpoint serves both functions: they count the same tiles.
    with open_checkpoint(checkpoint, "ei_parts_matrix", m, settings.memory_bound):
        counts = pair_counts(m, m.pair_binning(settings.samples or FIRST_ROUND))
        return fixed_or_converged(m, [counts], lambda: _pairwise_total(counts, m.settings),
                                  ei_parts_rule(settings.threshold))


@load_aware
@shared_entries
def ei_parts(layer, topology, threshold=0.05, samples=None, extrapolate=False, batch_size=20,
             in_layer=None, in_range=None, in_bins=64, out_range=None, out_bins=64,
             activation=None, device='cpu', *, rng="philox", seed=None, progress=True,
             memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
             estimator="plugin", shuffles=1, process_group=None, checkpoint=None):
    r"""EI_parts of ``layer``: the sum of I(x_A; y_B) in bits over every (input A, output B) pair.

    The whole input layer fires uniformly at random in ``in_range``; each pair's inputs and
    outputs are binned and its mutual information estimated from the joint counts (deep-ei
    0.7.0's function, same signature and defaults; the keyword-only arguments are this
    library's, :doc:`api`).

    Parameters
    ----------
    {layer}
    {topology}
    {threshold_parts}
    {samples_converging}
    extrapolate : bool, default False
        deep-ei's extrapolation: 20 rounds of 100000 new samples, EI_parts after each, the
        curve ``a / n**e + C`` (a, e, C >= 0) least-squares fitted to rounds 5 to 20 and
        evaluated at n = 1e15. ``samples`` and ``threshold`` are then unused. TypeError
        unless a bool.
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range_dynamic}
    {out_bins_dynamic}
    {activation}
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {max_samples}
    {estimator}
    {shuffles}
    {process_group}
    {checkpoint}

    Returns
    -------
    float
        EI_parts in bits; a sum below 0.01 is returned as 0.0, as deep-ei returns it.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    See Also
    --------
    ei_parts_matrix : every pair's term of the sum.
    pairwise_stats : the same sum with its standard error and each pair's significance.

    Examples
    --------
    A layer whose outputs copy its inputs: each input shares all of its 3 bits (8 bins) with
    its own output and nothing with the other one.

    {example_copy_layer}
    >>> parts = deep_ei.ei_parts(model[0], topology, samples=10000, in_bins=8, out_bins=8, seed=0)
    >>> round(parts, 2)
    6.01

    The plug-in estimate's upward bias (0.003 bits on each of the two independent pairs here)
    is what ``estimator="shuffle"`` removes:

    >>> round(deep_ei.ei_parts(model[0], topology, samples=10000, in_bins=8, out_bins=8, seed=0,
    ...                        estimator="shuffle"), 2)
    5.99
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device, rng,
                         seed, progress, threshold, max_samples, memory_bound, estimator, shuffles,
                         process_group)
    check_extrapolate(extrapolate)
    if not extrapolate:
        return _zero_small(_pairwise_matrix(layer, topology, settings, in_layer, activation, "ei_parts",
                                            checkpoint)[0])
    check_checkpoint(checkpoint, settings, extrapolate)
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="ei_parts", dynamic_out=True)
    counts = pair_counts(m, m.pair_binning(EXTRAPOLATION_ROUND))
    eis = []
    with m.bar(EXTRAPOLATION_ROUND * EXTRAPOLATION_POINTS) as bar:
        for _ in range(EXTRAPOLATION_POINTS):
            m.feed(EXTRAPOLATION_ROUND, [counts], bar)
            eis.append(_pairwise_total(counts, m.settings)[0])
    return _zero_small(extrapolate_curve(eis))


@load_aware
@shared_entries
def ei_parts_matrix(layer, topology, samples=None, batch_size=20, in_layer=None, in_range=None,
                    in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                    rng="philox", seed=None, progress=True, memory_bound=None,
                    threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                    estimator="plugin", shuffles=1, process_group=None, checkpoint=None):
    r"""The matrix of I(x_A; y_B) in bits for every (input A, output B) pair of ``layer``.

    The terms whose sum is :func:`ei_parts`, from the whole input layer firing uniformly at
    random (deep-ei 0.7.0's function, same signature and defaults). With ``samples=None`` it
    follows ``ei_parts``' convergence rule on the matrix's sum, where deep-ei 0.7.0 crashes.
    Pair counters are tiled to stay under ``memory_bound``.

    Parameters
    ----------
    {layer}
    {topology}
    {samples_converging}
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range_dynamic}
    {out_bins_dynamic}
    {activation}
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {threshold_parts}
    {max_samples}
    {estimator}
    {shuffles}
    {process_group}
    {checkpoint}

    Returns
    -------
    numpy.ndarray
        float64, of shape ``(n_in, n_out)``: row A, column B is I(x_A; y_B) in bits (no 0.01
        zeroing).

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    Examples
    --------
    {example_copy_layer}
    >>> matrix = deep_ei.ei_parts_matrix(model[0], topology, samples=10000, in_bins=8, out_bins=8,
    ...                                  seed=0)
    >>> matrix.shape, matrix.dtype
    ((2, 2), dtype('float64'))
    >>> matrix.round(2)
    array([[3., 0.],
           [0., 3.]])
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device, rng,
                         seed, progress, threshold, max_samples, memory_bound, estimator, shuffles,
                         process_group)
    return _pairwise_matrix(layer, topology, settings, in_layer, activation, "ei_parts_matrix",
                            checkpoint)[1]


@load_aware
@shared_entries
def ei(layer, topology, threshold=0.05, samples=None, batch_size=20, in_layer=None, in_range=None,
       in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *, rng="philox",
       seed=None, progress=True, memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
       estimator="plugin", shuffles=1, process_group=None):
    r"""The effective information of ``layer``: I(X; Y) in bits of its whole input and output vectors.

    The input layer fires uniformly at random in ``in_range``; every neuron is binned and the
    mutual information of the binned input vector X and output vector Y is estimated from the
    counts of their distinct values, H(X) + H(Y) - H(X, Y) for the plug-in estimate (deep-ei
    0.7.0's vector EI, same signature and defaults). A sample is kept only when every input
    and output code is below its bin count, as in deep-ei. The distinct vectors are counted
    exactly within ``memory_bound``: a table that would not fit is counted in key ranges, one
    pass over the samples each, with the same result bit for bit.

    Parameters
    ----------
    {layer}
    {topology}
    {threshold_vector}
    {samples_converging}
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range}
    {out_bins}
    {activation}
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {max_samples}
    {estimator}
    {shuffles}
    {process_group}

    Returns
    -------
    float
        The vector EI in bits.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    See Also
    --------
    vector_stats : the same estimate with its standard error.
    eis_between_groups : the vector EI between groups of input and output neurons.

    Examples
    --------
    A layer whose outputs copy its inputs passes both inputs' 8 bins, log2(8 * 8) = 6 bits:

    {example_copy_layer}
    >>> round(deep_ei.ei(model[0], topology, samples=10000, in_bins=8, out_bins=8, seed=0), 2)
    6.0

    With ``samples=None`` the samples double until the estimate changes by less than
    ``threshold`` bits:

    >>> round(deep_ei.ei(model[0], topology, in_bins=8, out_bins=8, seed=0), 2)
    6.0
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                device, rng, seed, progress, threshold, max_samples, memory_bound,
                                estimator, shuffles, process_group)
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="ei")
    vector = VectorWithNulls(m)
    return fixed_or_converged(m, [vector], vector.eis, vector_rule(threshold))[0]


@load_aware
@shared_entries
def eis_between_groups(layer, topology, groups, samples=None, batch_size=20, in_layer=None,
                       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                       device='cpu', *, rng="philox", seed=None, progress=True, threshold=0.05,
                       memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
                       estimator="plugin", shuffles=1, process_group=None):
    r"""The vector EI between each (input group, output group) of ``layer``, in bits.

    As :func:`ei`, on the sub-vectors of each group's input and output neurons. Samples are
    kept or dropped on the whole vectors first, as in deep-ei 0.7.0 (same signature and
    defaults; ``samples=None``, a crash in deep-ei, follows ``ei``'s rule on every group). The
    groups' tables share ``memory_bound``.

    Parameters
    ----------
    {layer}
    {topology}
    groups : list of (sequence of int, sequence of int)
        The (input neuron indices, output neuron indices) of each group, indices into the
        flattened input and output (ints, numpy integers or 0-d integer tensors). At least one
        group; an index out of range raises ValueError, a float or bool TypeError.
    {samples_converging}
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range}
    {out_bins}
    {activation}
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {threshold_vector}
    {memory_bound}
    {max_samples}
    {estimator}
    {shuffles}
    {process_group}

    Returns
    -------
    list of float
        The vector EI in bits of each group, in the order of ``groups``.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    Examples
    --------
    Input 0 is copied to output 0 only: 3 bits (8 bins) there, none to output 1.

    {example_copy_layer}
    >>> groups = [((0,), (0,)), ((0,), (1,)), ((0, 1), (0, 1))]
    >>> eis = deep_ei.eis_between_groups(model[0], topology, groups, samples=10000, in_bins=8,
    ...                                  out_bins=8, seed=0)
    >>> [round(value, 2) for value in eis]
    [3.0, 0.0, 6.0]
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                device, rng, seed, progress, threshold, max_samples, memory_bound,
                                estimator, shuffles, process_group)
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="eis_between_groups")
    vector = VectorWithNulls(m, check_groups(groups, m.spec.n_in, m.spec.n_out))
    return fixed_or_converged(m, [vector], vector.eis, vector_rule(threshold))


class VectorAndPairwise(NamedTuple):
    ei: float  # vector EI, bits
    ei_parts: float  # EI_parts, bits (no 0.01 zeroing)
    samples: int  # samples drawn (what samples=None converged at)
    converged: bool  # False when samples=None stopped at max_samples
    ei_standard_error: Optional[float] = None  # bits; with standard_errors=True
    ei_parts_standard_error: Optional[float] = None


def measure_vector_and_pairwise(layer, topology, settings, *, in_layer=None, activation=None,
                                description="vector_and_pairwise_ei", standard_errors=False):
    """Vector EI and EI_parts of ``layer`` from the same samples, under MeasurementSettings
    (samples=None: ei's rule on the vector EI), with the number of samples drawn; the caller's
    name (``description``) labels the bar and a ConvergenceWarning."""
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description=description)
    # The vector table and the pair counters share the bound (half each).
    half = memory_share(m.settings.memory_bound).split(2, "the vector and the pair counts", multiplies=False)
    vector = VectorWithNulls(m, memory_bound=half)
    counts = pair_counts(m, m.pair_binning(settings.samples or FIRST_ROUND), memory_bound=half)
    vector_ei = fixed_or_converged(m, [vector, counts], vector.eis,
                                   vector_rule(settings.threshold))[0]
    if standard_errors:
        pairs = estimator_of(m.settings).pair_statistics(counts)
        return VectorAndPairwise(vector_ei, sum_in_order(pairs.estimate), m.samples_drawn, m.converged,
                                 vector.statistics()[0].standard_error, math.sqrt(pairs.sum_variance))
    return VectorAndPairwise(vector_ei, _pairwise_total(counts, m.settings)[0], m.samples_drawn,
                             m.converged)


@load_aware
@shared_entries
def vector_and_pairwise_ei(layer, topology, samples=None, batch_size=20, in_layer=None,
                           in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                           device='cpu', *, rng="philox", seed=None, progress=True,
                           memory_bound=None, threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                           estimator="plugin", shuffles=1, process_group=None):
    r"""The vector EI and EI_parts of ``layer`` from the same noise samples, in bits.

    One pass of noise feeds both :func:`ei`'s vector counts and :func:`ei_parts`' pair counts
    (deep-ei 0.7.0's function, same signature and defaults); they share ``memory_bound``, half
    each. ``samples=None``, a crash in deep-ei, follows ``ei``'s rule on the vector EI.

    Parameters
    ----------
    {layer}
    {topology}
    {samples_converging}
    {batch_size}
    {in_layer}
    {in_range}
    {in_bins}
    {out_range}
    {out_bins}
    {activation}
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {threshold_vector}
    {max_samples}
    {estimator}
    {shuffles}
    {process_group}

    Returns
    -------
    tuple of (float, float)
        (vector EI, EI_parts) in bits; EI_parts without ``ei_parts``' 0.01 zeroing, as in
        deep-ei.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    Examples
    --------
    {example_copy_layer}
    >>> vector, parts = deep_ei.vector_and_pairwise_ei(model[0], topology, samples=10000,
    ...                                                in_bins=8, out_bins=8, seed=0)
    >>> round(vector, 2), round(parts, 2)
    (6.0, 6.01)
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins,
                                device, rng, seed, progress, threshold, max_samples, memory_bound,
                                estimator, shuffles, process_group)
    result = measure_vector_and_pairwise(layer, topology, settings, in_layer=in_layer,
                                         activation=activation)
    return result.ei, result.ei_parts
