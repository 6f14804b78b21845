"""Sensitivity: pairwise MI when one input neuron fires at a time and the others are 0."""
import torch

from ._ops import ops
from .arguments import DEFAULT_MEMORY_BOUND
from .measurement import Measurement, sensitivity_out_bins
from .pairwise import RANGE_WIDENING, PairBinning, PairCounts, sum_in_order
from .sampling import check_no_nan
from .schedule import batch_bounds

PHILOX_BLOCK = 4096  # samples per forward pass in philox mode (fixed: results never depend on it)


def _one_hot_batch(values, neuron, n_in):
    batch = torch.zeros((values.shape[0], n_in), dtype=torch.float32, device=values.device)
    batch[:, neuron] = values
    return batch


def _torch_draw_blocks(m, neuron, samples):
    """deep-ei's draws for input `neuron`: a torch.rand((size,)) per batch."""
    spec, (low, high) = m.spec, m.spec.in_range
    for start, stop in batch_bounds(samples, m.batch_size):
        size = stop - start
        batch = torch.zeros((size, spec.n_in)).to(m.device)
        batch[:, neuron] = (high - low) * torch.rand((size,), device=m.device) + low
        yield batch


def _philox_blocks(m, neuron, samples, seed):
    """Input `neuron`'s counter-based noise: the same values it has in the EI functions."""
    low, high = m.spec.in_range
    for start in range(0, samples, PHILOX_BLOCK):
        values = torch.empty((1, min(PHILOX_BLOCK, samples - start)), dtype=torch.float32, device=m.device)
        ops.philox_uniform_(values, seed, start, neuron, float(low), float(high))
        yield _one_hot_batch(values[0], neuron, m.spec.n_in)


def _dynamic_range(m, matrix_variant):
    """deep-ei's dynamic out_range for sensitivity: from one-hot inputs at the range's ends.

    sensitivity_matrix takes min of the low inputs' outputs and max of the high ones';
    sensitivity takes min and max over both (0.7.0 differs between the two; kept as is).
    """
    spec, (low, high) = m.spec, m.spec.in_range
    mins, maxs = [], []
    for neuron in range(spec.n_in):
        # On the measurement's device, as deep-ei evaluates them.
        ends = [torch.full((1,), float(end), device=m.device) for end in (low, high)]
        low_out, high_out = (spec.forward(_one_hot_batch(v, neuron, spec.n_in).reshape(1, *spec.in_shape))
                             for v in ends)
        if matrix_variant:
            mins.append(torch.min(low_out).item())
            maxs.append(torch.max(high_out).item())
        else:
            mins.append(min(torch.min(low_out).item(), torch.min(high_out).item()))
            maxs.append(max(torch.max(low_out).item(), torch.max(high_out).item()))
    return (min(mins), max(maxs))


def _sensitivities(layer, topology, samples, batch_size, in_layer, in_range, in_bins, out_range,
                   out_bins, activation, device, rng, seed, progress, memory_bound, matrix_variant):
    m = Measurement(layer, topology, samples=samples, batch_size=batch_size, in_layer=in_layer,
                    in_range=in_range, in_bins=in_bins, out_range=out_range, out_bins=out_bins,
                    activation=activation, device=device, rng=rng, seed=seed, progress=progress,
                    memory_bound=memory_bound, dynamic_out=True,
                    description="sensitivity_matrix" if matrix_variant else "sensitivity")
    spec = m.spec
    value_range = spec.out_range
    if value_range == "dynamic":
        value_range = _dynamic_range(m, matrix_variant)
        if not value_range[0] - RANGE_WIDENING < value_range[1] + RANGE_WIDENING:
            # A decreasing layer: deep-ei 0.7.0 fails here too (fast_histogram's range check).
            raise ValueError(f"out_range='dynamic' gives {value_range}, with low > high "
                             "(the layer decreases); give out_range explicitly")
    bins = sensitivity_out_bins(spec.in_range, in_bins, value_range, out_bins)
    binning = PairBinning(spec.in_range, in_bins, [value_range] * spec.n_out, [bins] * spec.n_out, m.device)
    matrix = torch.zeros((spec.n_in, spec.n_out), dtype=torch.float64)
    with m.bar(samples * spec.n_in) as bar:
        for neuron in range(spec.n_in):
            counts = PairCounts(binning, 1, spec.n_out, memory_bound, progress=False)
            blocks = (_torch_draw_blocks(m, neuron, samples) if rng == "torch"
                      else _philox_blocks(m, neuron, samples, m.philox_seed))
            for batch in blocks:
                size = batch.shape[0]
                y = spec.forward(batch.reshape(size, *spec.in_shape)).reshape(size, -1)
                y = y.to(torch.float32).t().contiguous()
                check_no_nan(y, spec)
                x = batch[:, neuron].reshape(1, size).contiguous()
                counts.add(x, y)
                bar.update(size)
            matrix[neuron] = torch.from_numpy(counts.mi_matrix()[0])
    return matrix.numpy()


def sensitivity(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                rng="philox", seed=None, progress=True, memory_bound=DEFAULT_MEMORY_BOUND):
    r"""Sum over pairs of I(t_A; t_B) in bits when only input A fires (uniformly), others 0."""
    matrix = _sensitivities(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                            out_range, out_bins, activation, device, rng, seed, progress,
                            memory_bound, matrix_variant=False)
    return sum_in_order(matrix)


def sensitivity_matrix(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                       in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                       rng="philox", seed=None, progress=True, memory_bound=DEFAULT_MEMORY_BOUND):
    r"""Matrix [n_in, n_out] of I(t_A; t_B) in bits when only input A fires, as numpy float64."""
    return _sensitivities(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                          out_range, out_bins, activation, device, rng, seed, progress,
                          memory_bound, matrix_variant=True)
