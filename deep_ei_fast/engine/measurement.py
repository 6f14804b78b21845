"""One measurement of a resolved layer: its noise stream, progress bar, the feeding of sample
blocks to counters, and the pairwise binning (including deep-ei's 'dynamic' output ranges)."""
import numpy as np

from .noise_streams import open_stream, resolve_seed
from .null_pairing import PairCountsWithNulls
from .pair_counts import MAX_BINS, PairBinning, PairCounts
from .progress import progress_bar


class Measurement:
    """A layer (LayerSpec) measured under checked MeasurementSettings."""

    def __init__(self, spec, settings, description="EI"):
        self.spec, self.settings, self.description = spec, settings, description
        self.device = settings.device
        # Drawn once: seed=None takes it from torch's global generator.
        self.philox_seed = resolve_seed(settings.seed) if settings.rng == "philox" else None
        self.stream = open_stream(spec, settings.rng, self.philox_seed, settings.batch_size, self.device)
        self.samples_drawn = 0  # what feed() has handed out so far

    @property
    def in_bins(self):
        return self.settings.in_bins

    @property
    def out_bins(self):
        return self.settings.out_bins

    def bar(self, total):
        return progress_bar(self.settings.progress, total, f"{self.description} {self.spec.describe()}")

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
        counts = PairCounts(binning, self.spec.n_in, self.spec.n_out, self.settings.memory_bound,
                            replay=self.stream.replay, progress=self.settings.progress)
        if samples is not None and counts.replay is None:
            counts.check_cache_fits(samples)  # fail before drawing, not partway
        return counts

    def pair_counts_with_nulls(self, binning, samples=None, null_shifts=()):
        """pair_counts plus one null PairCounts per shift of null_shifts (the shuffle
        estimator's), all within memory_bound; no shifts: the same counts as pair_counts."""
        def make_counts(memory_bound, replay):
            return PairCounts(binning, self.spec.n_in, self.spec.n_out, memory_bound,
                              replay=replay, progress=self.settings.progress)
        pairs = PairCountsWithNulls(make_counts, self.settings.memory_bound, self.stream.replay,
                                    null_shifts)
        if samples is not None and pairs.replay is None:
            pairs.check_cache_fits(samples)  # fail before drawing, not partway
        return pairs
