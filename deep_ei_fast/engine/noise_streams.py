"""Streams of noise samples pushed through a layer, as neuron-major blocks (x [n_in, S], y [n_out, S]).

Two sources:
- TorchDrawStream draws with torch's global generator in deep-ei 0.7.0's order and batch
  shapes (rng="torch"), so that its samples are deep-ei's samples.
- PhiloxStream generates counter-based noise inside the kernels (rng="philox"): sample i's
  inputs are a pure function of (seed, i, neuron), so any range of samples can be regenerated,
  and blocks are chosen by the engine, never by batch_size.
"""
import torch

from . import ops
from .draw_schedule import MEMORY_LIMIT, batch_bounds, chunk_sizes
from .null_pairing import NULL_SEGMENT

# Per device: (target bytes of float32 values per generated block, inputs + outputs; most
# samples per block). The CPU's blocks fit its caches (2048 samples of a 1024->1024 layer); a
# GPU needs far larger launches to fill its SMs, and each block costs a few kernel launches and
# a histogram flush check, so its blocks are 16 times larger (32768 samples at 1024->1024).
# Philox results do not depend on the block size (sample i's noise is a function of i, and the
# shuffle's null pairs within fixed segments of samples that every block size is a multiple of).
BLOCK_LIMITS = {
    "cpu": (16 * 2**20, 65536),
    "cuda": (256 * 2**20, 2**20),
}


def block_samples(n_in, n_out, device):
    """Samples per generated block of an n_in -> n_out layer on `device`: a multiple of the
    null pairing's NULL_SEGMENT (256), at least one segment."""
    byte_limit, most = BLOCK_LIMITS.get(torch.device(device).type, BLOCK_LIMITS["cpu"])
    samples = min(most, byte_limit // (4 * (n_in + n_out)))
    return max(NULL_SEGMENT, samples // NULL_SEGMENT * NULL_SEGMENT)


def check_no_nan(y, spec):
    """deep-ei silently miscounts NaN outputs; refuse them, naming the layer and how many."""
    if not bool(torch.isnan(y).any()):  # one cheap pass; the per-sample count only on failure
        return
    nan_samples = torch.isnan(y).any(dim=0)
    if bool(nan_samples.any()):
        fraction = float(nan_samples.double().mean())
        raise ValueError(
            f"layer {spec.describe()} ({spec.layer!r}) produced NaN for {fraction:.2%} of the "
            f"samples in a block of {y.shape[1]} (fraction {fraction:.6g}); EI is undefined for NaN outputs")


def first_chunk_size(samples, spec):
    """deep-ei's first chunk of a call for `samples` samples: what dynamic ranges are taken from."""
    return min(samples, MEMORY_LIMIT // max(spec.n_in, spec.n_out))


def _generator_state(device):
    """torch's global generator state: the CPU one, and the device's for CUDA draws."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_generator_state(state, device):
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class TorchDrawStream:
    """deep-ei's draws from torch's global generator. Replay re-draws them: the generator's
    state before the first draw is saved, and the takes are repeated with the same sizes from
    it; afterwards the generator is put back where the draws had left it."""

    def __init__(self, spec, batch_size, device):
        self.spec, self.batch_size, self.device = spec, batch_size, torch.device(device)
        self.position = 0
        self._pending = []  # chunks drawn early (for dynamic ranges), handed out first
        self._start_state = None
        self._takes = []  # the sample counts of every take() so far

    def _draw_chunk(self, size):
        if self._start_state is None:
            self._start_state = _generator_state(self.device)
        spec, (low, high) = self.spec, self.spec.in_range
        xs, ys = [], []
        for start, stop in batch_bounds(size, self.batch_size):
            sample = (high - low) * torch.rand((stop - start, *spec.in_shape), device=self.device) + low
            result = spec.forward(sample)
            xs.append(sample.reshape(stop - start, -1))
            ys.append(result.reshape(stop - start, -1).to(torch.float32))
        x = torch.cat(xs).t().contiguous()
        y = torch.cat(ys).t().contiguous()
        check_no_nan(y, spec)
        return x, y

    def _chunks(self, samples):
        return chunk_sizes(samples, self.spec.n_in, self.spec.n_out)

    def peek_first_chunk(self, samples):
        """The first chunk the next take(samples) will yield (drawn now, yielded later)."""
        if not self._pending:
            self._pending.append(self._draw_chunk(next(iter(self._chunks(samples)))))
        return [self._pending[0]]

    def take(self, samples):
        """Blocks of the next `samples` samples, drawn chunk by chunk as deep-ei draws them."""
        self._takes.append(samples)
        for size in self._chunks(samples):
            block = self._pending.pop(0) if self._pending else self._draw_chunk(size)
            self.position += size
            yield block

    def replay(self, stop):
        """Re-draws samples [0, stop) (stop: the samples taken so far) from the saved state."""
        if stop != self.position or self._pending:
            raise RuntimeError(f"replay({stop}) of a torch stream at sample {self.position}")
        after = _generator_state(self.device)
        _set_generator_state(self._start_state, self.device)
        try:
            for samples in self._takes:
                for size in self._chunks(samples):
                    yield self._draw_chunk(size)
        finally:
            _set_generator_state(after, self.device)


class PhiloxStream:
    def __init__(self, spec, seed, device):
        self.spec, self.seed, self.device = spec, seed, device
        self.position = 0
        self._takes = []  # (start, stop) of each take: the blocks' cuts, for replay
        self.block = block_samples(spec.n_in, spec.n_out, device)
        self.fused = spec.fused_linear()
        self.may_produce_nan = True
        if self.fused is not None:
            weight, bias, code = self.fused
            self.fused = (weight.to(device), None if bias is None else bias.to(device), code)
            self.may_produce_nan = not _fused_layer_is_finite(weight, bias, spec.in_range)

    def generate(self, start, stop):
        spec, (low, high) = self.spec, self.spec.in_range
        count = stop - start
        x = torch.empty((spec.n_in, count), dtype=torch.float32, device=self.device)
        if self.fused is not None:
            weight, bias, code = self.fused
            y = torch.empty((spec.n_out, count), dtype=torch.float32, device=self.device)
            ops.sample_linear_layer_(x, y, weight, bias, code, self.seed, start, float(low), float(high))
        else:
            ops.philox_uniform_(x, self.seed, start, 0, float(low), float(high))
            batch = x.t().contiguous().reshape(count, *spec.in_shape)
            y = spec.forward(batch).reshape(count, -1).to(torch.float32).t().contiguous()
        if self.may_produce_nan:
            check_no_nan(y, spec)
        return x, y

    def block_bounds(self, start, stop):
        """(start, end) of the blocks covering samples [start, stop), cut at multiples of the
        block size; a start off the null pairing's segments (a take that began inside one) is
        cut at the next segment, so every block starts on a segment or ends before the next one
        (engine/null_pairing.py)."""
        while start < stop:
            end = min(stop, (start // self.block + 1) * self.block)
            if start % NULL_SEGMENT:
                end = min(end, (start // NULL_SEGMENT + 1) * NULL_SEGMENT)
            yield start, end
            start = end

    def blocks(self, start, stop):
        """The blocks of block_bounds(start, stop), generated."""
        for begin, end in self.block_bounds(start, stop):
            yield self.generate(begin, end)

    def take_bounds(self, samples):
        """take(samples)'s block bounds, without generating them (generate(start, end) makes
        one): a rank of a process group generates only the blocks it needs."""
        start = self.position
        self.position += samples
        self._takes.append((start, self.position))
        return self.block_bounds(start, start + samples)

    def peek_first_chunk(self, samples):
        return self.blocks(self.position, self.position + first_chunk_size(samples, self.spec))

    def take(self, samples):
        return (self.generate(start, end) for start, end in self.take_bounds(samples))

    def taken_bounds(self, stop):
        """The bounds of the blocks taken so far that cover samples [0, stop), cut as they were
        taken (a take that ends inside a block cuts it): the shuffle estimator's null pairs
        samples within segments that a take's end cuts, so a re-read must cut them alike."""
        for start, end in self._takes:
            if start >= stop:
                return
            yield from self.block_bounds(start, min(end, stop))

    def replay(self, stop):
        """Regenerates samples [0, stop) in the blocks they were taken in: what a tiled pass
        over pairs, or a vector table counted in parts, re-reads."""
        return (self.generate(start, end) for start, end in self.taken_bounds(stop))


def _fused_layer_is_finite(weight, bias, in_range):
    """True when the fused kernel cannot produce NaN: finite parameters whose sums cannot
    overflow float32 for inputs in in_range (then no per-block NaN scan is needed)."""
    if not bool(torch.isfinite(weight).all()) or (bias is not None and not bool(torch.isfinite(bias).all())):
        return False
    largest_input = max(abs(float(in_range[0])), abs(float(in_range[1])))
    bound = float(weight.abs().sum(dim=1).max()) * largest_input if weight.numel() else 0.0
    if bias is not None and bias.numel():
        bound += float(bias.abs().max())
    return bound < 1e37


def resolve_seed(seed):
    """seed=None draws one from torch's global generator, so torch.manual_seed repeats runs."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return int(seed) % 2**64 - (2**64 if int(seed) % 2**64 >= 2**63 else 0)


def open_stream(spec, rng, philox_seed, batch_size, device):
    if rng == "torch":
        return TorchDrawStream(spec, batch_size, device)
    return PhiloxStream(spec, philox_seed, device)


# Samples per forward pass of one_hot_blocks in philox mode, and per block sensitivity counts in
# either mode (fixed, a multiple of NULL_SEGMENT: results never depend on it).
ONE_HOT_BLOCK = 4096
assert ONE_HOT_BLOCK % NULL_SEGMENT == 0


def _one_hot_batch(values, neuron, n_in):
    batch = torch.zeros((values.shape[0], n_in), dtype=torch.float32, device=values.device)
    batch[:, neuron] = values
    return batch


def one_hot_blocks(spec, neuron, samples, rng, philox_seed, batch_size, device):
    """Batches [size, n_in] where only input ``neuron`` fires (uniform in spec.in_range), the
    others are 0: sensitivity's noise. rng="torch" draws deep-ei's torch.rand((size,)) per
    batch; philox gives the neuron the values it has in the EI functions."""
    low, high = spec.in_range
    if rng == "torch":
        for start, stop in batch_bounds(samples, batch_size):
            size = stop - start
            batch = torch.zeros((size, spec.n_in)).to(device)
            batch[:, neuron] = (high - low) * torch.rand((size,), device=device) + low
            yield batch
        return
    for start in range(0, samples, ONE_HOT_BLOCK):
        values = torch.empty((1, min(ONE_HOT_BLOCK, samples - start)), dtype=torch.float32, device=device)
        ops.philox_uniform_(values, philox_seed, start, neuron, low, high)
        yield _one_hot_batch(values[0], neuron, spec.n_in)


def range_ends_one_hot(spec, neuron, device):
    """(layer output with input ``neuron`` at the range's low end, at its high end), the others
    0: what deep-ei's dynamic sensitivity range is taken from (on the measurement's device)."""
    ends = [torch.full((1,), float(end), device=device) for end in spec.in_range]
    return tuple(spec.forward(_one_hot_batch(v, neuron, spec.n_in).reshape(1, *spec.in_shape))
                 for v in ends)
