"""Joint counts of every (input neuron, output neuron) pair: the binning, and the pass over the
pairs that yields their counts a tile at a time.

The binning is deep-ei's (fast_histogram's): range widened by 1e-6 on each side, float64 bin
index, samples out of range dropped from that pair only. Dropped samples go to an extra last
row / column of each pair's counters, which the MI ignores, so the hot loop has no branch.

PairCounts is one pairing's counters and owns the passes over them; each concern it combines
has a module of its own: the tile plan (tile_plan.py), the codes batched for the histogram and
kept or regenerated for tiled passes (code_batches.py), int32 counters flushed into int64
(pair_counters.py), the first samples' codes (kept_samples.py). Checkpointing wraps its tiles
(tile_checkpoint.py); what estimators compute from them is assembled and gathered over the ranks
in pair_results.py.
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch

from . import histogram_choice, ops
from .code_batches import PassCodes, PendingCodes
from .kept_samples import KeptSamples
from .memory_share import memory_share
from .pair_counters import COUNTER_BYTES, Counters, cell_bytes
from .sharding import SINGLE
from .threads import load_aware_threads
from .tile_checkpoint import holds_every_tile
from .tile_plan import TilePlan

MAX_BINS = 65535  # bins of one side: codes and counters are indexed by int32

RANGE_WIDENING = 1e-6
MAX_PAIR_TABLE_BYTES = 2**30  # one pair's counter table; larger bins are refused
# Bytes a PairCounts holds besides its counters and codes (its Python objects, lists, tensor
# headers): charged to each part when an argument multiplies the counter sets (one per
# shuffle: MemoryShare.multiplied), since they then grow with it; one set's, like its first
# samples' codes and the noise block, are a constant beside the bound. Measured in
# benchmarks/memory_bound.py (benchmarks/results/memory_bound_cpu_2core.md).
COUNTER_SET_BYTES = 8192


class PairBinning:
    """Bins of the inputs (one range for all) and of each output neuron (own range and bins).

    Every bin count is 1..MAX_BINS (checked with the arguments) and code_dtype holds it, so the
    codes are made without pairwise_codes_'s bin checks (a synchronization per call on CUDA).
    """

    def __init__(self, in_range, in_bins, out_ranges, out_bins, device):
        self.in_bins = int(in_bins)
        self.out_bins = [int(b) for b in out_bins]
        self.rows = self.in_bins + 1
        self.cols = max(self.out_bins) + 1
        self.code_dtype = torch.uint8 if max(self.rows, self.cols) <= 256 else torch.int32
        n_out = len(self.out_bins)
        as_f64 = dict(dtype=torch.float64, device=device)
        # Widened exactly as deep-ei's hack_range does, in Python float arithmetic.
        self.in_low = in_range[0] - RANGE_WIDENING
        self.in_high = in_range[1] + RANGE_WIDENING
        self.out_low = torch.tensor([r[0] - RANGE_WIDENING for r in out_ranges], **as_f64)
        self.out_high = torch.tensor([r[1] + RANGE_WIDENING for r in out_ranges], **as_f64)
        self.out_bins_t = torch.tensor(self.out_bins, dtype=torch.int32, device=device)
        self.device = device
        self._input_bins = {}  # rows of x -> (low, high, bins) tensors, made once per size
        assert self.out_low.numel() == n_out
        if self.pair_bytes > MAX_PAIR_TABLE_BYTES:
            raise ValueError(
                f"bins: {self.in_bins} x {max(self.out_bins)} bins need a {self.pair_bytes}-byte "
                f"counter table per pair, more than the limit of {MAX_PAIR_TABLE_BYTES} bytes")

    def _input_tables(self, n):
        if n not in self._input_bins:
            self._input_bins[n] = (
                torch.full((n,), self.in_low, dtype=torch.float64, device=self.device),
                torch.full((n,), self.in_high, dtype=torch.float64, device=self.device),
                torch.full((n,), self.in_bins, dtype=torch.int32, device=self.device))
        return self._input_bins[n]

    def input_codes(self, x):
        low, high, bins = self._input_tables(x.shape[0])
        codes = torch.empty(x.shape, dtype=self.code_dtype, device=self.device)
        ops.pairwise_codes_(codes, x, low, high, bins, self.rows - 1, check_bins=False)
        return codes

    def output_codes(self, y):
        codes = torch.empty(y.shape, dtype=self.code_dtype, device=self.device)
        ops.pairwise_codes_(codes, y, self.out_low, self.out_high, self.out_bins_t, self.cols - 1,
                            check_bins=False)
        return codes

    def codes(self, x, y):
        return self.input_codes(x), self.output_codes(y)

    @property
    def pair_bytes(self):
        return self.rows * self.cols * COUNTER_BYTES


@dataclass(frozen=True)
class Tile:
    """A rectangle of pairs, counted: what an estimator's per_tile reads."""
    rect: tuple  # (a0, a1, b0, b1): the pairs [a0, a1) x [b0, b1), in layer coordinates
    # int32 (int64 past FLUSH_SAMPLES) [a1 - a0, b1 - b0, RX, RY]; the last row and column hold
    # the samples dropped as out of range, which no estimate uses
    counts: torch.Tensor
    in_bins: int
    out_bins: torch.Tensor  # int32 [b1 - b0]: each output's bins
    # the kept samples' codes of the tile's inputs [a1 - a0, M] and outputs [b1 - b0, M]
    # (None: none kept); the counts hold them, so each has a cell with a count >= 1
    x_codes: Optional[torch.Tensor]
    y_codes: Optional[torch.Tensor]
    real: bool  # the samples' own pairing (False: a null pairing)


class PairCounts:
    """One pairing's joint counts of every pair of its region, tiled under memory_bound.

    ``add`` codes each block of samples: whole counters (one tile) count them in batches as
    they come; tiled counters keep the codes (a quarter of the bound) or regenerate them
    through ``replay(total)`` (counter-based noise), and count each tile from them in turn
    when ``each_tile()`` is iterated. With a distributed ``shard`` (engine/sharding.py) the
    region is the rank's slab of pairs (pair_results.py gathers what is computed from it).
    ``kept_samples``: the first samples whose codes each Tile carries. ``tile_store``: a
    checkpoint's TileStore holding finished tiles under ``tile_label`` (None: none).
    """

    def __init__(self, binning, n_in, n_out, memory_bound, replay=None, status=None, samples=None,
                 tile_store=None, tile_label="counts", shard=SINGLE, kept_samples=0, real=True):
        self.binning, self.n_in, self.n_out = binning, n_in, n_out
        self.tile_store, self.tile_label, self.real = tile_store, tile_label, real
        self.shard = shard
        self.region = a0, a1, b0, b1 = shard.pair_region(n_in, n_out)
        # memory_bound: bytes, or a MemoryShare (a part of the user's bound) that names it.
        self.share = share = memory_share(memory_bound)
        self.plan = TilePlan(binning.rows, binning.cols, self.region, share,
                             binning.pair_bytes // COUNTER_BYTES * cell_bytes(samples),
                             COUNTER_SET_BYTES if share.multiplied else 0)
        self.tiles = self.plan.tiles
        self.replay = replay
        self.status = status or (lambda text: None)  # reports tiled passes (in the caller's bar)
        self.total = 0
        self.code_size = torch.empty((), dtype=binning.code_dtype).element_size()
        # Whole counters count pending codes once they reach the device's batch limit, or the
        # quarter of the bound that the codes of tiled counters would hold.
        most_samples, most_bytes = histogram_choice.batch_limits(binning.device)
        self.batch_limits = (most_samples, max(1, min(most_bytes, self.cache_limit)))
        self.pending = PendingCodes(self.batch_limits)
        self.pass_codes = PassCodes(self.cache_limit, replay, binning.codes)
        self.kept = KeptSamples(kept_samples)
        self.counts = Counters(self._zeros(a1 - a0, b1 - b0)) if self.plan.whole else None
        # Known before any sample: tiles are saved only after the samples are counted.
        self.needs_samples = not holds_every_tile(tile_store, tile_label, self.tiles)

    @property
    def cache_limit(self):
        """Bytes of codes a tiled pass may keep (a quarter of what the plan leaves)."""
        return self.plan.cache_limit

    def check_cache_fits(self, samples):
        """Raises now if a tiled pass over `samples` samples would need more cache than allowed."""
        if self.counts is not None:
            return
        needed = samples * (self.n_in + self.n_out) * self.code_size
        if needed > self.cache_limit:
            raise self.plan.refuse_uncached(needed)

    def _zeros(self, na, nb):
        b = self.binning
        # empty + zero_ fills with all threads (torch.zeros faults a large buffer in on one).
        return torch.empty((na, nb, b.rows, b.cols), dtype=torch.int32, device=b.device).zero_()

    def skip(self, samples):
        """Takes note of `samples` samples not drawn (needs_samples is False)."""
        self.total += samples

    def add(self, x, y):
        """Counts a block of samples (neuron-major float values)."""
        self.total += x.shape[1]
        if not self.needs_samples:
            return
        codes = self.binning.codes(x, y)
        self.kept.add(codes)
        if not self.tiles:  # a rank with no pairs of its own
            return
        if self.counts is not None:
            if self.pending.add(codes):
                self._count_pending()
        elif not self.pass_codes.add(codes) and self.replay is None:
            self.check_cache_fits(self.total)

    def _count_pending(self):
        a0, a1, b0, b1 = self.region  # row slices of neuron-major codes: contiguous views
        for x_codes, y_codes in self.pending.take():
            self.counts.add(self.plan.accumulate, x_codes[a0:a1], y_codes[b0:b1])

    def each_tile(self, skip=()):
        """Each Tile in turn (but those whose rectangles are in `skip`), with the kept samples'
        codes attached; a tile's counters are valid until the next one is asked for."""
        codes = self.kept.codes()
        in_bins = self.binning.in_bins
        for (a0, a1, b0, b1), counts, out_bins in self.counted_tiles(skip):
            x_codes, y_codes = (None, None) if codes is None else (codes[0][a0:a1], codes[1][b0:b1])
            yield Tile((a0, a1, b0, b1), counts, in_bins, out_bins, x_codes, y_codes, self.real)

    def counted_tiles(self, skip=()):
        """((a0, a1, b0, b1), counts [a1 - a0, b1 - b0, RX, RY] (int32, int64 past
        FLUSH_SAMPLES), out_bins int32 [b1 - b0]) of each tile in turn (but those in `skip`);
        a tile's counters are valid until the next one is asked for."""
        b = self.binning
        if self.counts is not None:
            with load_aware_threads() as threads:
                threads.update()
                self._count_pending()
            b0, b1 = self.region[2:]
            yield self.region, self.counts.totals(), b.out_bins_t[b0:b1].contiguous()
            return
        if not self.tiles:
            return
        # One buffer for every tile (the first is the largest): never two tiles' counters at once.
        a0, a1, b0, b1 = self.tiles[0]
        buffer = self._zeros(a1 - a0, b1 - b0).reshape(-1)
        with load_aware_threads() as threads:
            for done, (a0, a1, b0, b1) in enumerate(self.tiles):
                if (a0, a1, b0, b1) in skip:
                    continue
                self.status(f"pair tiles {done}/{len(self.tiles)}")
                shape = (a1 - a0, b1 - b0, b.rows, b.cols)
                counts = Counters(buffer[:math.prod(shape)].view(shape).zero_())
                for x_codes, y_codes in self.pass_codes.batches(self.total, self.batch_limits):
                    threads.update()
                    counts.add(self.plan.accumulate, x_codes[a0:a1], y_codes[b0:b1])
                yield (a0, a1, b0, b1), counts.totals(), b.out_bins_t[b0:b1].contiguous()
        self.status(f"pair tiles {len(self.tiles)}/{len(self.tiles)}")
