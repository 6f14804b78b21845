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
from .checkpointing import check_checkpoint
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


def _pairwise_total(m, pairs):
    """(EI_parts, MI matrix) of the pair counts so far, under the measurement's estimator."""
    matrix = m.pair_estimate(pairs)
    return sum_in_order(matrix), matrix


def _pairwise_matrix(layer, topology, settings, in_layer, activation, description, checkpoint=None):
    """The MI matrix of every pair, from settings.samples or ei_parts' convergence rule; with
    a checkpoint directory, its finished tiles are loaded and the others saved."""
    # One checkpoint serves both functions: they count the same tiles.
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description=description, dynamic_out=True, checkpoint=checkpoint,
                          checkpoint_function="ei_parts_matrix") as m:
        pairs = m.pair_counts(m.pair_binning(settings.samples or FIRST_ROUND))
        return fixed_or_converged(m, [pairs], lambda: _pairwise_total(m, pairs),
                                  ei_parts_rule(settings.threshold))[0]


@load_aware
def ei_parts(layer, topology, threshold=0.05, samples=None, extrapolate=False, batch_size=20,
             in_layer=None, in_range=None, in_bins=64, out_range=None, out_bins=64,
             activation=None, device='cpu', *, rng="philox", seed=None, progress=True,
             memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
             estimator="plugin", shuffles=1, process_group=None, checkpoint=None):
    r"""EI_parts of ``layer``: the sum over all (input A, output B) pairs of I(t_A; t_B) in bits,
    with the whole input layer firing uniformly at random. Sums below 0.01 are reported as 0.0.

    samples=None doubles the samples until the relative change falls under ``threshold``, or
    until ``max_samples`` (then ConvergenceWarning; None: no cap); extrapolate=True fits
    a / n^e + C over 20 rounds of 1e5 samples (deep-ei's rules). ``checkpoint``: as
    ei_parts_matrix's.
    """
    settings = MeasurementSettings.of(locals())
    check_extrapolate(extrapolate)
    if not extrapolate:
        return _zero_small(_pairwise_matrix(layer, topology, settings, in_layer, activation, "ei_parts",
                                            checkpoint)[0])
    check_checkpoint(checkpoint, settings, extrapolate)
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description="ei_parts", dynamic_out=True) as m:
        pairs = m.pair_counts(m.pair_binning(EXTRAPOLATION_ROUND))
        eis = []
        with m.bar(EXTRAPOLATION_ROUND * EXTRAPOLATION_POINTS) as bar:
            for _ in range(EXTRAPOLATION_POINTS):
                m.feed(EXTRAPOLATION_ROUND, [pairs], bar)
                eis.append(_pairwise_total(m, pairs)[0])
    return _zero_small(extrapolate_curve(eis))


@load_aware
def ei_parts_matrix(layer, topology, samples=None, batch_size=20, in_layer=None, in_range=None,
                    in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                    rng="philox", seed=None, progress=True, memory_bound=None,
                    threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                    estimator="plugin", shuffles=1, process_group=None, checkpoint=None):
    r"""Matrix [n_in, n_out] of I(t_A; t_B) in bits for every pair, as a float64 numpy array.

    samples=None uses ei_parts' convergence rule (with ``threshold``, up to ``max_samples``) on
    the matrix's sum (deep-ei 0.7.0 crashes there). Pair counters are tiled to stay under
    ``memory_bound`` bytes (None: 2 GiB on the CPU, 3/4 of the device's free memory on CUDA).

    ``checkpoint``: a directory where each finished tile is saved; a restarted call with the
    same arguments loads those tiles instead of counting them and returns the identical matrix.
    It needs fixed ``samples`` and rng="philox"; other arguments are refused, naming the first
    difference (docs/long_runs.rst).
    """
    settings = MeasurementSettings.of(locals())
    return _pairwise_matrix(layer, topology, settings, in_layer, activation, "ei_parts_matrix",
                            checkpoint)[1]


@load_aware
def ei(layer, topology, threshold=0.05, samples=None, batch_size=20, in_layer=None, in_range=None,
       in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *, rng="philox",
       seed=None, progress=True, memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
       estimator="plugin", shuffles=1, process_group=None):
    r"""Vector EI of ``layer``: I(X; Y) in bits between the whole binned input and output vectors
    under uniform noise. samples=None doubles samples until EI changes by < ``threshold`` bits,
    or until ``max_samples`` (then ConvergenceWarning; None: no cap).

    The distinct code vectors are counted exactly within ``memory_bound`` bytes (None: the
    device's default): a table that would not fit is counted in key ranges, one pass over the
    samples each (the same result, bit for bit)."""
    settings = MeasurementSettings.of(locals())
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description="ei") as m:
        vectors = m.vector_counts()
        return fixed_or_converged(m, [vectors], lambda: m.vector_eis(vectors), vector_rule(threshold))[0][0]


@load_aware
def eis_between_groups(layer, topology, groups, samples=None, batch_size=20, in_layer=None,
                       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                       device='cpu', *, rng="philox", seed=None, progress=True, threshold=0.05,
                       memory_bound=None, max_samples=DEFAULT_MAX_SAMPLES,
                       estimator="plugin", shuffles=1, process_group=None):
    r"""Vector EI between each (input group, output group) of ``layer``, as a list of floats.

    Samples are filtered on the whole vectors first, as in deep-ei. samples=None (a crash in
    deep-ei 0.7.0) doubles samples until every group's EI changes by < ``threshold`` bits, or
    until ``max_samples`` (then ConvergenceWarning; None: no cap). The groups' tables share
    ``memory_bound`` (as in ``ei``).
    """
    settings = MeasurementSettings.of(locals())
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description="eis_between_groups") as m:
        vectors = m.vector_counts(check_groups(groups, m.spec.n_in, m.spec.n_out))
        return fixed_or_converged(m, [vectors], lambda: m.vector_eis(vectors), vector_rule(threshold))[0]


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
    with open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                          description=description, standard_errors=standard_errors) as m:
        # The vector table and the pair counters share the bound (half each).
        half = memory_share(m.settings.memory_bound).split(2, "the vector and the pair counts", multiplies=False)
        vectors = m.vector_counts(memory_bound=half)
        pairs = m.pair_counts(m.pair_binning(settings.samples or FIRST_ROUND), memory_bound=half)
        eis, converged = fixed_or_converged(m, [vectors, pairs], lambda: m.vector_eis(vectors),
                                            vector_rule(settings.threshold))
        if standard_errors:
            statistics = m.pair_estimate(pairs)
            return VectorAndPairwise(eis[0], sum_in_order(statistics.estimate), m.samples_drawn, converged,
                                     m.vector_estimate(vectors)[0].standard_error,
                                     math.sqrt(statistics.sum_variance))
        return VectorAndPairwise(eis[0], _pairwise_total(m, pairs)[0], m.samples_drawn, converged)


@load_aware
def vector_and_pairwise_ei(layer, topology, samples=None, batch_size=20, in_layer=None,
                           in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                           device='cpu', *, rng="philox", seed=None, progress=True,
                           memory_bound=None, threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                           estimator="plugin", shuffles=1, process_group=None):
    r"""(vector EI, EI_parts) of ``layer`` from the same samples, in bits (no 0.01 zeroing).

    samples=None (a crash in deep-ei 0.7.0) uses ei's rule on the vector EI, up to
    ``max_samples`` (then ConvergenceWarning; None: no cap).
    """
    settings = MeasurementSettings.of(locals())
    result = measure_vector_and_pairwise(layer, topology, settings, in_layer=in_layer,
                                         activation=activation)
    return result.ei, result.ei_parts
