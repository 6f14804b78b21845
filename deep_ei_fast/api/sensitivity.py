"""Sensitivity: pairwise MI when one input neuron fires at a time and the others are 0.

With a process group, each rank measures a contiguous part of the input neurons (each neuron's
noise is its own philox stream) and the rows are gathered."""
import dataclasses
import math

import numpy as np
import torch

from ..engine.noise_streams import ONE_HOT_BLOCK, check_no_nan, one_hot_blocks, range_ends_one_hot
from ..engine.null_pairing import PairCountsWithNulls
from ..engine.pair_counts import MAX_BINS, RANGE_WIDENING, PairBinning, PairCounts
from ..engine.settings import MeasurementSettings
from ..engine.threads import load_aware
from ..estimators.plugin import sum_in_order
from ..estimators.registry import PairStatistics
from .arguments import check_positive_int
from .docstrings import shared_entries
from .estimated import estimator_of
from .prepare import open_measurement


def sensitivity_out_bins(in_range, in_bins, out_range, out_bins):
    """deep-ei's sensitivity rule for out_bins='dynamic': ceil(out width / in bin width)."""
    if out_bins != "dynamic":
        return out_bins
    count = math.ceil((out_range[1] - out_range[0]) / ((in_range[1] - in_range[0]) / in_bins))
    if not 1 <= count <= MAX_BINS:
        raise ValueError(f"out_bins='dynamic' gives {count} bins for out_range {out_range}")
    return count


def _dynamic_range(m, matrix_variant):
    """deep-ei's dynamic out_range for sensitivity: from one-hot inputs at the range's ends.

    sensitivity_matrix takes min of the low inputs' outputs and max of the high ones';
    sensitivity takes min and max over both (0.7.0 differs between the two; kept as is).
    """
    mins, maxs = [], []
    for neuron in range(m.spec.n_in):
        low_out, high_out = range_ends_one_hot(m.spec, neuron, m.device)
        if matrix_variant:
            mins.append(torch.min(low_out).item())
            maxs.append(torch.max(high_out).item())
        else:
            mins.append(min(torch.min(low_out).item(), torch.min(high_out).item()))
            maxs.append(max(torch.max(low_out).item(), torch.max(high_out).item()))
    return (min(mins), max(maxs))


def sensitivity_matrix_of(layer, topology, settings, *, in_layer=None, activation=None,
                          matrix_variant=True, statistics=False):
    """The [n_in, n_out] sensitivity matrix under MeasurementSettings (samples per input);
    statistics=True: a list of the settings' Estimator.pair_statistics, one [1, n_out] per input."""
    check_positive_int("samples", settings.samples)  # no sample-count rule for sensitivity
    m = open_measurement(layer, topology, settings, in_layer=in_layer, activation=activation,
                         description="sensitivity_matrix" if matrix_variant else "sensitivity",
                         dynamic_out=True)
    spec, settings = m.spec, m.settings  # checked: device and memory_bound resolved
    samples = settings.samples
    value_range = spec.out_range
    if value_range == "dynamic":
        value_range = _dynamic_range(m, matrix_variant)
        if not value_range[0] - RANGE_WIDENING < value_range[1] + RANGE_WIDENING:
            # A decreasing layer: deep-ei 0.7.0 fails here too (fast_histogram's range check).
            raise ValueError(f"out_range='dynamic' gives {value_range}, with low > high "
                             "(the layer decreases); give out_range explicitly")
    bins = sensitivity_out_bins(spec.in_range, settings.in_bins, value_range, settings.out_bins)
    binning = PairBinning(spec.in_range, settings.in_bins, [value_range] * spec.n_out,
                          [bins] * spec.n_out, m.device)
    first, last = m.shard.part(spec.n_in)
    matrix = torch.zeros((last - first, spec.n_out), dtype=torch.float64)
    estimator, rows = estimator_of(settings), []
    with m.bar(samples * (last - first)) as bar:
        for neuron in range(first, last):
            def draws(total, neuron=neuron):
                return _one_hot_samples(m, neuron, total)
            # philox one-hot draws can be drawn again, so tiled counters need not cache codes.
            replay = draws if settings.rng == "philox" else None
            counts = PairCountsWithNulls(
                lambda bound, replay, label, keep_first: PairCounts(binning, 1, spec.n_out, bound, replay=replay,
                                                                    keep_first=keep_first),
                settings.memory_bound, replay, estimator.null_shifts)
            if replay is None:
                counts.check_cache_fits(samples)
            for x, y in draws(samples):
                counts.add(x, y)
                bar.update(x.shape[1])
            if statistics:
                rows.append(estimator.pair_statistics(counts))
            else:
                matrix[neuron - first] = torch.from_numpy(estimator.pairwise_matrix(counts)[0])
    if statistics:
        return _gathered_statistics(m.shard, rows, spec.n_out)
    return m.shard.gather_slabs(matrix, 0, "gathering sensitivity rows").numpy()


_STATISTICS_ARRAYS = [f.name for f in dataclasses.fields(PairStatistics) if f.name != "sum_variance"]


def _gathered_statistics(shard, rows, n_out):
    """Every rank's PairStatistics rows ([1, n_out] each), in neuron order: packed as float64
    rows [arrays..., sum_variance] for one gather (a no-op without a process group)."""
    if not shard.distributed:
        return rows
    width = len(_STATISTICS_ARRAYS) * n_out
    packed = torch.tensor(np.array([np.concatenate([np.ravel(getattr(r, name)) for name in _STATISTICS_ARRAYS]
                                                   + [[r.sum_variance]]) for r in rows]).reshape(-1, width + 1),
                          dtype=torch.float64)
    whole = shard.gather_slabs(packed, 0, "gathering sensitivity statistics").numpy()
    return [PairStatistics(**{name: row[k * n_out:(k + 1) * n_out].reshape(1, n_out)
                              for k, name in enumerate(_STATISTICS_ARRAYS)}, sum_variance=float(row[width]))
            for row in whole]


def _one_hot_samples(m, neuron, samples):
    """(x [1, S], y [n_out, S]) blocks of ONE_HOT_BLOCK samples (the last may be shorter),
    neuron-major float32: ``neuron`` fires, the others are 0. rng="torch" runs the forward pass
    on deep-ei's batches and regroups them, so that the shuffle's null segments do not depend
    on batch_size."""
    spec, settings = m.spec, m.settings
    batches = one_hot_blocks(spec, neuron, samples, settings.rng, m.philox_seed, settings.batch_size, m.device)
    # The NaN scan reads a flag back (a synchronization per block on CUDA): skipped, as the
    # stream skips it, for a Linear layer whose finite weights cannot overflow (one-hot inputs
    # are 0 or in in_range, inside the bound the stream checked).
    blocks = _forward_one_hot(spec, neuron, batches, getattr(m.stream, "may_produce_nan", True))
    return blocks if settings.rng == "philox" else _regrouped(blocks, ONE_HOT_BLOCK)


def _forward_one_hot(spec, neuron, batches, scan_nan):
    for batch in batches:
        size = batch.shape[0]
        y = spec.forward(batch.reshape(size, *spec.in_shape)).reshape(size, -1)
        y = y.to(torch.float32).t().contiguous()
        if scan_nan:
            check_no_nan(y, spec)
        yield batch[:, neuron].reshape(1, size).contiguous(), y


def _regrouped(blocks, size):
    """(x, y) blocks of consecutive samples, cut anew into blocks of ``size`` samples (the
    last may be shorter)."""
    xs, ys, held = [], [], 0
    for x, y in blocks:
        xs.append(x)
        ys.append(y)
        held += x.shape[1]
        while held >= size:
            x, y = torch.cat(xs, dim=1), torch.cat(ys, dim=1)
            yield x[:, :size].contiguous(), y[:, :size].contiguous()
            xs, ys, held = [x[:, size:]], [y[:, size:]], held - size
    if held:
        yield torch.cat(xs, dim=1).contiguous(), torch.cat(ys, dim=1).contiguous()


def _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device, rng, seed,
              progress, memory_bound, estimator="plugin", shuffles=1, process_group=None):
    return MeasurementSettings(
        samples=samples, batch_size=batch_size, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, device=device, rng=rng, seed=seed,
        progress=progress, memory_bound=memory_bound, estimator=estimator, shuffles=shuffles,
        process_group=process_group)


@load_aware
@shared_entries
def sensitivity(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                rng="philox", seed=None, progress=True, memory_bound=None,
                estimator="plugin", shuffles=1, process_group=None):
    r"""The sensitivity of ``layer``: the sum of I(x_A; y_B) in bits over all pairs, one input firing at a time.

    For each input neuron A in turn, A fires uniformly at random in ``in_range`` while every
    other input is 0; the MI of (x_A, y_B) is estimated for every output B from ``samples``
    samples, and all the terms are summed (deep-ei 0.7.0's function, same signature and
    defaults). ``memory_bound`` bounds one input's pair counters.

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
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {estimator}
    {shuffles}
    {process_group}

    Returns
    -------
    float
        The sensitivity in bits (no 0.01 zeroing).

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_untraced}

    See Also
    --------
    sensitivity_matrix : the terms of the sum.
    sensitivity_stats : the sum with its standard error.

    Examples
    --------
    Both outputs copy input 0: alone, it shares its 3 bits (8 bins) with each of them; input
    1 reaches neither.

    {example_repeat_layer}
    >>> round(deep_ei.sensitivity(model[0], topology, samples=1000, in_bins=8, out_bins=8, seed=0), 1)
    6.0
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device,
                         rng, seed, progress, memory_bound, estimator, shuffles, process_group)
    return sum_in_order(sensitivity_matrix_of(layer, topology, settings, in_layer=in_layer,
                                              activation=activation, matrix_variant=False))


@load_aware
@shared_entries
def sensitivity_matrix(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                       in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                       rng="philox", seed=None, progress=True, memory_bound=None,
                       estimator="plugin", shuffles=1, process_group=None):
    r"""The matrix of I(x_A; y_B) in bits for every (input A, output B) pair, one input firing at a time.

    The terms whose sum is :func:`sensitivity` (deep-ei 0.7.0's function, same signature and
    defaults). With ``out_range="dynamic"`` the range is taken as deep-ei 0.7.0's
    ``sensitivity_matrix`` takes it: the least output of the inputs set to ``in_range``'s low
    end and the greatest of those set to its high end (``sensitivity`` takes both over both).

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
    {device_cpu}
    {rng}
    {seed}
    {progress}
    {memory_bound}
    {estimator}
    {shuffles}
    {process_group}

    Returns
    -------
    numpy.ndarray
        float64, of shape ``(n_in, n_out)``: row A, column B is I(x_A; y_B) in bits when A
        alone fires.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_untraced}

    Examples
    --------
    {example_repeat_layer}
    >>> deep_ei.sensitivity_matrix(model[0], topology, samples=1000, in_bins=8, out_bins=8,
    ...                            seed=0).round(1)
    array([[3., 3.],
           [0., 0.]])
    """
    settings = _settings(samples, batch_size, in_range, in_bins, out_range, out_bins, device,
                         rng, seed, progress, memory_bound, estimator, shuffles, process_group)
    return sensitivity_matrix_of(layer, topology, settings, in_layer=in_layer,
                                 activation=activation, matrix_variant=True)
