"""One measurement of a resolved layer, and the one place that assembles what it counts: its
noise stream, progress bar, the feeding of sample blocks to counters, the pairwise binning
(including deep-ei's 'dynamic' output ranges), the pair counters and vector tables its estimator
needs (the real pairing and the null ones), and the estimator's results from them."""
from contextlib import contextmanager

import numpy as np

from . import pair_results
from .noise_streams import open_stream
from .null_pairing import WithNulls
from .pair_counts import MAX_BINS, PairBinning, PairCounts
from .progress import progress_bar
from .sharding import SINGLE
from .threads import load_aware_threads
from .vector_counts import VectorCounts

# Counts are exact integers in float64 (the entropies' totals) and int64 (counters, sample
# indices) up to this many samples.
MAX_SAMPLES = 2**53


class Measurement:
    """A layer (LayerSpec) measured under checked MeasurementSettings, given everything at
    construction: ``estimator`` (estimators/estimator.py's interface: the null pairings of its
    ``null_shifts`` are counted beside the real one, the codes of its ``kept_samples`` first
    samples kept, and it turns the counts into results), the ``shard`` of a process group and
    the ``philox_seed`` agreed over it (None for rng="torch"), and ``tile_store``: a
    checkpoint's TileStore (engine/checkpoint.py) for the pair counts (None: none)."""

    # Everything a measurement holds, fixed: nothing can be added on it from outside (setting
    # `converged` or a tile store afterwards was the seam issue 19 removed).
    __slots__ = ("spec", "settings", "description", "estimator", "shard", "philox_seed", "tile_store",
                 "device", "stream", "samples_drawn", "_open_bar")

    def __init__(self, spec, settings, estimator, *, description="EI", shard, philox_seed=None,
                 tile_store=None):
        self.spec, self.settings, self.description = spec, settings, description
        self.estimator, self.shard, self.philox_seed = estimator, shard, philox_seed
        self.tile_store = tile_store
        self.device = settings.device
        self.stream = open_stream(spec, settings.rng, philox_seed, settings.batch_size, self.device)
        self.samples_drawn = 0  # what feed() has handed out so far
        self._open_bar = None  # the one bar of this measurement, while it is shown

    @property
    def in_bins(self):
        return self.settings.in_bins

    @property
    def out_bins(self):
        return self.settings.out_bins

    @contextmanager
    def bar(self, total):
        """The measurement's progress bar (one per call, removed when done); the tiled pair
        counts report their passes in it rather than in a bar of their own."""
        shown = self.settings.progress and self.shard.rank == 0  # one bar for a process group
        with progress_bar(shown, total, f"{self.description} {self.spec.describe()}") as bar:
            self._open_bar = bar
            try:
                yield bar
            finally:
                self._open_bar = None

    def show_status(self, text):
        if self._open_bar is not None:
            self._open_bar.set_postfix_str(text)

    def feed(self, samples, consumers, bar):
        """Draws the next `samples` samples and hands each block to every consumer, with
        torch's thread count chosen from the machine's load before each block. When no
        consumer needs them (a checkpoint holds every tile), none are drawn. Sharded, a
        consumer whose ``own_blocks_only`` is true gets only this rank's blocks, and a block
        no consumer here needs is not generated."""
        if not any(getattr(consumer, "needs_samples", True) for consumer in consumers):
            for consumer in consumers:
                consumer.skip(samples)
            self.samples_drawn += samples
            bar.update(samples)
            return
        if self.shard.distributed:
            return self._feed_sharded(samples, consumers, bar)
        with load_aware_threads() as threads:
            threads.update()
            for x, y in self.stream.take(samples):
                for consumer in consumers:
                    consumer.add(x, y)
                self.samples_drawn += x.shape[1]
                bar.update(x.shape[1])
                threads.update()

    def _feed_sharded(self, samples, consumers, bar):
        own = [c for c in consumers if getattr(c, "own_blocks_only", False)]
        every = [c for c in consumers if c not in own]
        stream = self.stream  # a PhiloxStream: sharding refuses rng='torch'
        with load_aware_threads() as threads:
            threads.update()
            for start, end in stream.take_bounds(samples):
                mine = self.shard.owns_block(start // stream.block)
                if every or (own and mine):
                    x, y = stream.generate(start, end)
                    for consumer in consumers:
                        if mine or consumer in every:
                            consumer.add(x, y)
                self.samples_drawn += end - start
                bar.update(end - start)
                threads.update()

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

    def pair_counts(self, binning, memory_bound=None):
        """The real pair counts of every (input, output) pair (this rank's region of them) and a
        null pairing's per shift of the estimator, fed this measurement's blocks, under
        memory_bound (default: the settings'), with the checkpoint's finished tiles."""
        def make(share, replay, label, real):
            return PairCounts(binning, self.spec.n_in, self.spec.n_out, share, replay=replay,
                              status=self.show_status, samples=self.settings.samples,
                              tile_store=self.tile_store, tile_label=label, shard=self.shard,
                              kept_samples=self.estimator.kept_samples if real else 0, real=real)
        return WithNulls(make, memory_bound or self.settings.memory_bound, self.stream.replay,
                         self.estimator.null_shifts)

    def one_hot_pair_counts(self, binning, draws):
        """Sensitivity's pair counts of one input neuron firing (1 x n_out pairs) and their null
        pairings, under the settings' memory_bound: fed by the caller, re-read through
        ``draws(total)`` when tiled (None: they cannot be, and the codes must fit)."""
        def make(share, replay, label, real):
            return PairCounts(binning, 1, self.spec.n_out, share, replay=replay,
                              samples=self.settings.samples, tile_label=label, shard=SINGLE,
                              kept_samples=self.estimator.kept_samples if real else 0, real=real)
        pairs = WithNulls(make, self.settings.memory_bound, draws, self.estimator.null_shifts)
        if draws is None:
            for counts in [pairs.counts, *pairs.nulls]:
                counts.check_cache_fits(self.settings.samples)
        return pairs

    def vector_counts(self, groups=None, memory_bound=None):
        """The VectorCounts of the whole vectors (or of `groups`) and a null one per shift of the
        estimator, under memory_bound (default: the settings'), each re-reading its samples
        through vector_replay (shifted, for a null) when it must count in parts. Sharded, they
        take only this rank's blocks, their tables merged over the ranks."""
        spec = self.spec

        def make(share, replay, label, real):
            return VectorCounts(spec.in_range, self.in_bins, spec.out_range, self.out_bins, spec.n_in,
                                spec.n_out, spec.outputs_bounded_below_range(), groups, memory_bound=share,
                                replay=replay, device=self.device, shard=self.shard)
        return WithNulls(make, memory_bound or self.settings.memory_bound, self.vector_replay,
                         self.estimator.null_shifts, own_blocks_only=self.shard.distributed)

    def pair_estimate(self, pairs):
        """The estimator's result from pair counts (pair_counts' or one_hot_pair_counts')."""
        return pair_results.estimate(pairs, self.estimator)

    def vector_eis(self, vectors):
        """The estimator's vector EI of each group of vector counts (vector_counts'), floats."""
        return self.estimator.vector_eis(vectors)

    def vector_estimate(self, vectors):
        """The estimator's result from vector counts (vector_counts')."""
        return self.estimator.finish_vectors(vectors)

    def vector_replay(self, stop):
        """The blocks a VectorCounts was fed, re-read: the stream's replay(stop); sharded, this
        rank's blocks of the stream's replay of every sample taken so far (a rank's vector
        tables are fed only its own blocks, so `stop`, what it was fed, is not the end)."""
        if not self.shard.distributed:
            return self.stream.replay(stop)
        stream = self.stream
        return (stream.generate(start, end) for start, end in stream.taken_bounds(stream.position)
                if self.shard.owns_block(start // stream.block))
