"""One measurement of a resolved layer: its noise stream, progress bar, the feeding of sample
blocks to counters, and the pairwise binning (including deep-ei's 'dynamic' output ranges)."""
from contextlib import contextmanager

import numpy as np

from .noise_streams import open_stream, resolve_seed
from .null_pairing import PairCountsWithNulls
from .pair_counts import MAX_BINS, PairBinning, PairCounts
from .progress import progress_bar
from .sharding import Shard
from .threads import load_aware_threads
from .vector_counts import VectorCounts

# Counts are exact integers in float64 (the entropies' totals) and int64 (counters, sample
# indices) up to this many samples.
MAX_SAMPLES = 2**53


class Measurement:
    """A layer (LayerSpec) measured under checked MeasurementSettings."""

    def __init__(self, spec, settings, description="EI"):
        if settings.samples is not None and settings.samples > MAX_SAMPLES:
            raise ValueError(f"samples={settings.samples}: at most {MAX_SAMPLES} (2^53) samples "
                             "can be counted exactly")
        self.spec, self.settings, self.description = spec, settings, description
        self.device = settings.device
        self.shard = Shard(settings.process_group, self.device)
        # Drawn once: seed=None takes it from torch's global generator (rank 0's, on every rank).
        self.philox_seed = self.shard.agree(resolve_seed(settings.seed)) if settings.rng == "philox" else None
        self.stream = open_stream(spec, settings.rng, self.philox_seed, settings.batch_size, self.device)
        self.samples_drawn = 0  # what feed() has handed out so far
        self.converged = None  # set by api/sample_rules: False when max_samples stopped it
        self.tile_store = None  # a checkpoint's TileStore (engine/checkpoint.py) for pair counts
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

    def _pair_counts(self, binning, memory_bound, replay, label, keep_first=True):
        return PairCounts(binning, self.spec.n_in, self.spec.n_out, memory_bound, replay=replay,
                          status=self.show_status, samples=self.settings.samples,
                          tile_store=self.tile_store, tile_label=label, shard=self.shard,
                          keep_first=keep_first)

    def pair_counts_with_nulls(self, binning, null_shifts=(), memory_bound=None):
        """pair_counts plus one null PairCounts per shift of null_shifts (the shuffle
        estimator's), all within memory_bound; no shifts: the same counts as pair_counts."""
        return PairCountsWithNulls(
            lambda bound, replay, label, keep_first: self._pair_counts(binning, bound, replay, label, keep_first),
            memory_bound or self.settings.memory_bound, self.stream.replay, null_shifts)

    def vector_counts(self, groups=None, memory_bound=None, replay=None):
        """VectorCounts of the whole vectors (or of `groups`) under memory_bound (default: the
        settings'), re-reading the samples when it must count in parts through ``replay``
        (default: vector_replay; a null pairing passes its shifted replay)."""
        spec = self.spec
        return VectorCounts(spec.in_range, self.in_bins, spec.out_range, self.out_bins, spec.n_in,
                            spec.n_out, spec.outputs_bounded_below_range(), groups,
                            memory_bound=memory_bound or self.settings.memory_bound,
                            replay=replay or self.vector_replay, device=self.device,
                            shard=self.shard)

    def vector_replay(self, stop):
        """The blocks a VectorCounts was fed, re-read: the stream's replay(stop); sharded, this
        rank's blocks of the stream's replay of every sample taken so far (a rank's vector
        tables are fed only its own blocks, so `stop`, what it was fed, is not the end)."""
        if not self.shard.distributed:
            return self.stream.replay(stop)
        stream = self.stream
        return (stream.generate(start, end) for start, end in stream.taken_bounds(stream.position)
                if self.shard.owns_block(start // stream.block))
