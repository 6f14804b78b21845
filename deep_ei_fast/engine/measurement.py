"""What every EI function does first: check arguments, resolve the layer, open the noise stream,
and settle the pairwise binning (including deep-ei's 'dynamic' output ranges and bins)."""
import math

import numpy as np

from .arguments import MAX_BINS, check_common, check_memory_bound
from .layer import resolve_layer
from .pairwise import PairBinning, PairCounts
from .progress import progress_bar
from .sampling import open_stream, resolve_seed


class Measurement:
    """One EI call: its layer, noise stream and settings."""

    def __init__(self, layer, topology, *, samples, batch_size, in_layer, in_range, in_bins,
                 out_range, out_bins, activation, device, rng, seed, progress,
                 memory_bound=None, dynamic_out=False, description="EI"):
        self.device = check_common(samples=samples, batch_size=batch_size, in_range=in_range,
                                   in_bins=in_bins, out_range=out_range, out_bins=out_bins, rng=rng,
                                   seed=seed, device=device, dynamic_out=dynamic_out)
        if memory_bound is not None:
            check_memory_bound(memory_bound)
        self.spec = resolve_layer(layer, topology, in_layer, in_range, out_range, activation)
        self.in_bins, self.out_bins = in_bins, out_bins
        self.memory_bound, self.progress, self.description = memory_bound, progress, description
        self.rng, self.seed, self.batch_size = rng, seed, batch_size
        # Drawn once: seed=None takes it from torch's global generator.
        self.philox_seed = resolve_seed(seed) if rng == "philox" else None
        self.stream = open_stream(self.spec, rng, self.philox_seed, batch_size, self.device)
        self.samples_drawn = 0  # what feed() has handed out so far

    def bar(self, total):
        return progress_bar(self.progress, total, f"{self.description} {self.spec.describe()}")

    def feed(self, samples, consumers, bar):
        """Draws the next `samples` samples and hands each block to every consumer."""
        for x, y in self.stream.take(samples):
            for consumer in consumers:
                consumer.add(x, y)
            self.samples_drawn += x.shape[1]
            bar.update(x.shape[1])

    def pair_binning(self, first_take):
        """deep-ei's binning of the EI functions: fixed, or 'dynamic' from the first chunk."""
        spec, in_bins, out_range, out_bins = self.spec, self.in_bins, self.spec.out_range, self.out_bins
        if out_range == "dynamic":
            lows, highs = [], []
            for _, y in self.stream.peek_first_chunk(first_take):
                lows.append(y.min(dim=1).values)
                highs.append(y.max(dim=1).values)
            low = np.min(np.stack([t.cpu().numpy() for t in lows]), axis=0).astype(np.float64)
            high = np.max(np.stack([t.cpu().numpy() for t in highs]), axis=0).astype(np.float64)
            ranges = [[low[b], high[b]] for b in range(spec.n_out)]
        else:
            ranges = [list(out_range) for _ in range(spec.n_out)]
        if out_bins == "dynamic":
            # deep-ei's rule, per output neuron: bins of the input's width, the range's top
            # moved to a whole number of them.
            in_low, in_high = spec.in_range
            width = (in_high - in_low) / in_bins
            bins = []
            for r in ranges:
                count = int((r[1] - r[0]) / width) + 1
                if count > MAX_BINS:
                    raise ValueError(f"out_bins='dynamic' gives {count} bins (more than {MAX_BINS}) "
                                     f"for out_range {tuple(r)} and in_bins={in_bins}")
                r[1] = r[0] + count * width
                bins.append(count)
        else:
            bins = [out_bins] * spec.n_out
        return PairBinning(spec.in_range, in_bins, ranges, bins, self.device)

    def pair_counts(self, binning, samples=None):
        counts = PairCounts(binning, self.spec.n_in, self.spec.n_out, self.memory_bound,
                            replay=self.stream.replay, progress=self.progress)
        if samples is not None and counts.replay is None:
            counts.check_cache_fits(samples)  # fail before drawing, not partway
        return counts


def sensitivity_out_bins(in_range, in_bins, out_range, out_bins):
    """deep-ei's sensitivity rule for out_bins='dynamic': ceil(out width / in bin width)."""
    if out_bins != "dynamic":
        return out_bins
    count = math.ceil((out_range[1] - out_range[0]) / ((in_range[1] - in_range[0]) / in_bins))
    if not 1 <= count <= MAX_BINS:
        raise ValueError(f"out_bins='dynamic' gives {count} bins for out_range {out_range}")
    return count
