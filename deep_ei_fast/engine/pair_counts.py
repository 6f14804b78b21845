"""Joint counts of every (input neuron, output neuron) pair: binning and tiled counting.

The binning is deep-ei's (fast_histogram's): range widened by 1e-6 on each side, float64 bin
index, samples out of range dropped from that pair only. Dropped samples go to an extra last
row / column of each pair's counters, which the MI ignores, so the hot loop has no branch.
"""
import math

import numpy as np
import torch

from . import histogram_choice, ops
from .memory_share import memory_share
from .sharding import SINGLE
from .threads import load_aware_threads

MAX_BINS = 65535  # bins of one side: codes and counters are indexed by int32

RANGE_WIDENING = 1e-6
# The histogram kernel is called once this many samples or this many bytes of codes are
# pending, whichever comes first (so pending codes stay below the byte limit plus one block):
# each call streams every pair's counters through the cache once, so few large calls cost far
# less memory traffic than many small ones. These are the CPU's limits;
# histogram_choice.batch_limits gives each device's.
HISTOGRAM_BATCH_SAMPLES, HISTOGRAM_BATCH_BYTES = histogram_choice.BATCH_LIMITS["cpu"]
COUNTER_BYTES = 4  # int32 counters
# int32 counters hold at most this many samples; then they are added into int64 totals, so
# more samples are counted exactly (the totals cost 8 more bytes a cell, planned for when the
# sample count is known to need them).
FLUSH_SAMPLES = 2**31 - 1
WIDE_COUNTER_BYTES = COUNTER_BYTES + 8
MAX_TILES = 4096  # plans with more tiles (each a pass over the samples) are refused
MAX_PAIR_TABLE_BYTES = 2**30  # one pair's counter table; larger bins are refused
KEPT_SAMPLES = 512  # first samples whose codes are kept (standard errors, see estimators/uncertainty.py)
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


def code_bytes(codes):
    """Bytes of an (x_codes, y_codes) block."""
    return sum(c.numel() * c.element_size() for c in codes)


def batched(code_blocks, limits=(HISTOGRAM_BATCH_SAMPLES, HISTOGRAM_BATCH_BYTES)):
    """Concatenates consecutive (x_codes, y_codes) blocks into batches for the histogram,
    each of at least limits[0] samples or limits[1] bytes."""
    pending, samples, size = [], 0, 0
    for codes in code_blocks:
        pending.append(codes)
        samples += codes[0].shape[1]
        size += code_bytes(codes)
        if samples >= limits[0] or size >= limits[1]:
            yield _concatenate(pending)
            pending, samples, size = [], 0, 0
    if pending:
        yield _concatenate(pending)


def _concatenate(blocks):
    if len(blocks) == 1:
        return blocks[0]
    return tuple(torch.cat(side, dim=1) for side in zip(*blocks))


def _tile_steps(n_in, n_out, pair_bytes, memory_bound):
    counter_budget = memory_bound * 3 // 4
    b_step = min(n_out, counter_budget // pair_bytes)
    a_step = min(n_in, max(1, counter_budget // (b_step * pair_bytes)))
    return a_step, b_step


def _tile_count(n_in, n_out, pair_bytes, memory_bound):
    a_step, b_step = _tile_steps(n_in, n_out, pair_bytes, memory_bound)
    return -(-n_in // a_step) * -(-n_out // b_step)


def smallest_tile_bound(n_in, n_out, pair_bytes):
    """The smallest memory_bound plan_tiles accepts for n_in x n_out pairs of pair_bytes."""
    low = -(-4 * pair_bytes // 3)  # 3/4 of it holds one pair's table
    if _tile_count(n_in, n_out, pair_bytes, low) <= MAX_TILES:
        return low
    low, high = low, 2 * n_in * n_out * pair_bytes  # high: one tile
    while high - low > 1:  # the tile count never grows with the bound
        mid = (low + high) // 2
        low, high = (mid, high) if _tile_count(n_in, n_out, pair_bytes, mid) > MAX_TILES else (low, mid)
    return high


def plan_tiles(n_in, n_out, pair_bytes, memory_bound):
    """Rectangles (a0, a1, b0, b1) of pairs whose counters fit in 3/4 of memory_bound bytes.

    The last quarter is left for the codes a tiled pass keeps (PairCounts.cache_limit). Plans of
    more than MAX_TILES tiles are refused, naming the smallest memory_bound that avoids it.
    """
    if pair_bytes > memory_bound * 3 // 4:
        raise ValueError(f"memory_bound={memory_bound} is too small: 3/4 of it must hold one pair's "
                         f"histogram ({pair_bytes} bytes)")
    tiles = _tile_count(n_in, n_out, pair_bytes, memory_bound)
    if tiles > MAX_TILES:
        raise ValueError(
            f"memory_bound={memory_bound} splits the {n_in} x {n_out} pair counters into {tiles} "
            f"tiles, each a pass over the samples (more than {MAX_TILES}); the smallest "
            f"memory_bound with at most {MAX_TILES} tiles is {smallest_tile_bound(n_in, n_out, pair_bytes)}")
    a_step, b_step = _tile_steps(n_in, n_out, pair_bytes, memory_bound)
    return [(a0, min(a0 + a_step, n_in), b0, min(b0 + b_step, n_out))
            for a0 in range(0, n_in, a_step) for b0 in range(0, n_out, b_step)]


def _tile_plan_problem(n_in, n_out, pair_bytes, memory_bound, subject="it"):
    """Why plan_tiles refuses memory_bound (None: it does not); `subject` names the bytes."""
    if pair_bytes > memory_bound * 3 // 4:
        return f"3/4 of {subject} must hold one pair's histogram ({pair_bytes} bytes)"
    if _tile_count(n_in, n_out, pair_bytes, memory_bound) > MAX_TILES:
        return (f"{subject} splits the {n_in} x {n_out} pair counters into more than {MAX_TILES} tiles, "
                "each a pass over the samples")
    return None


class Counters:
    """int32 pair counters [na, nb, RX, RY], added into int64 totals before they could
    overflow (FLUSH_SAMPLES samples)."""

    def __init__(self, narrow):
        self.narrow, self.wide, self.held = narrow, None, 0

    def add(self, accumulate, x_codes, y_codes):
        samples = x_codes.shape[1]
        if self.held + samples > FLUSH_SAMPLES:
            self.flush()
        accumulate(self.narrow, x_codes, y_codes)
        self.held += samples

    def flush(self):
        if self.wide is None:
            self.wide = self.narrow.to(torch.int64)
        else:
            self.wide += self.narrow
        self.narrow.zero_()
        self.held = 0

    def totals(self):
        """The counts so far: the int32 counters, or the int64 totals once they are needed."""
        if self.wide is None:
            return self.narrow
        self.flush()
        return self.wide


class PairCounts:
    """Joint counts of all pairs, held whole when they fit in memory_bound, else tiled.

    Tiled, the codes of every sample added are kept (when they fit in a quarter of the bound)
    or regenerated through `replay(total)` (counter-based noise), and each tile is counted from
    them in turn when the MI matrix is asked for.

    With a distributed ``shard`` (engine/sharding.py) only the shard's region of pairs is
    counted (tiled inside it), and per_pair gathers every rank's region into the whole matrix.
    """

    def __init__(self, binning, n_in, n_out, memory_bound, replay=None, status=None, samples=None,
                 tile_store=None, tile_label="counts", shard=SINGLE, keep_first=True):
        self.binning, self.n_in, self.n_out = binning, n_in, n_out
        # A checkpoint's engine/checkpoint.TileStore (None: none), and this counter's name there.
        self.tile_store, self.tile_label = tile_store, tile_label
        self.shard = shard
        self.region = a0, a1, b0, b1 = shard.pair_region(n_in, n_out)
        # memory_bound: bytes, or a MemoryShare (a part of the user's bound) that names it.
        self.share = memory_share(memory_bound)
        self.keep_first = keep_first  # keep the first samples' codes (first_codes)
        self.code_size = torch.empty((), dtype=binning.code_dtype).element_size()
        # Set aside first: the bookkeeping of a part, and the chosen kernel's scratch (the int8
        # GEMM path's); the counters (3/4) and the codes (1/4) share the rest.
        self.accumulate, self.workspace = histogram_choice.accumulator(
            binning.rows, binning.cols, a1 - a0, b1 - b0, self.share.bytes)
        self.bookkeeping = COUNTER_SET_BYTES if self.share.multiplied else 0
        usable = self.share.bytes - self.bookkeeping - self.workspace
        cell_bytes = WIDE_COUNTER_BYTES if samples is not None and samples > FLUSH_SAMPLES else COUNTER_BYTES
        self.pair_bytes = binning.pair_bytes // COUNTER_BYTES * cell_bytes  # one pair's counters
        self.tiles = [] if a0 == a1 or b0 == b1 else self._plan(a1 - a0, b1 - b0, self.pair_bytes, usable)
        self.replay = replay
        self.status = status or (lambda text: None)  # reports tiled passes (in the caller's bar)
        self.total = 0
        self.cache, self.cache_bytes, self.cache_limit = [], 0, max(0, usable) // 4
        self.counts = None
        # Code blocks not yet counted (whole counters), with their samples and bytes: counted
        # once either reaches the device's batch limit, or the quarter of the bound that the
        # cached codes of tiled counters would hold (whole counters cache none).
        self.unbinned, self.unbinned_samples, self.unbinned_bytes = [], 0, 0
        self.kept, self.kept_samples = [], 0  # the first KEPT_SAMPLES samples' codes
        most_samples, most_bytes = histogram_choice.batch_limits(binning.device)
        self.batch_limits = (most_samples, max(1, min(most_bytes, self.cache_limit)))
        if len(self.tiles) == 1:
            self.counts = Counters(self._zeros(a1 - a0, b1 - b0))
        # Known before any sample: tiles are saved only after the samples are counted.
        self._all_stored = tile_store is not None and all(
            tile_store.finished(tile_label, rect) for rect in self.tiles)

    def _smallest_part(self, usable):
        """The fewest bytes of memory_bound (or of its part) that leave `usable` bytes after the
        bookkeeping and the kernel's scratch (which grows with the bound: each step adds what
        is missing, so it ends at the least such bound)."""
        a0, a1, b0, b1 = self.region
        part = usable + self.bookkeeping
        while True:
            workspace = histogram_choice.accumulator(self.binning.rows, self.binning.cols, a1 - a0, b1 - b0, part)[1]
            missing = usable - (part - self.bookkeeping - workspace)
            if missing <= 0:
                return part
            part += missing

    def _plan(self, na, nb, pair_bytes, usable):
        """This region's tiles (absolute rectangles) in `usable` bytes, or the share's refusal
        naming the smallest memory_bound that works."""
        set_aside = [f"{b} bytes of {what}" for b, what in ((self.bookkeeping, "bookkeeping"),
                                                            (self.workspace, "kernel scratch")) if b]
        subject = f"what {'each part' if self.share.parts > 1 else 'it'} leaves after {' and '.join(set_aside)}" \
            if set_aside else "it"
        problem = _tile_plan_problem(na, nb, pair_bytes, usable, subject)
        if problem:
            raise self.share.refusal(problem, self._smallest_part(smallest_tile_bound(na, nb, pair_bytes)))
        a0, b0 = self.region[0], self.region[2]
        return [(t0 + a0, t1 + a0, u0 + b0, u1 + b0) for t0, t1, u0, u1 in plan_tiles(na, nb, pair_bytes, usable)]

    def check_cache_fits(self, samples):
        """Raises now if a tiled pass over `samples` samples would need more cache than allowed."""
        if self.counts is not None:
            return
        needed = samples * (self.n_in + self.n_out) * self.code_size
        if needed > self.cache_limit:
            a0, a1, b0, b1 = self.region
            whole = -(-4 * (a1 - a0) * (b1 - b0) * self.pair_bytes // 3)  # one tile: no cache
            raise self.share.refusal(
                f"the pair counters need {len(self.tiles)} tiles, and rng='torch' draws cannot be "
                f"regenerated: their codes ({needed} bytes) must fit in a quarter of memory_bound",
                self._smallest_part(min(4 * needed, whole)), hint="; or use rng='philox'")

    def _zeros(self, na, nb):
        b = self.binning
        # empty + zero_ fills with all threads (torch.zeros faults a large buffer in on one).
        return torch.empty((na, nb, b.rows, b.cols), dtype=torch.int32, device=b.device).zero_()

    @property
    def needs_samples(self):
        """False when the checkpoint holds every tile: the samples need not be counted."""
        return not self._all_stored

    def skip(self, samples):
        """Takes note of `samples` samples not drawn (needs_samples is False)."""
        self.total += samples

    def add(self, x, y):
        """Counts a block of samples (neuron-major float values)."""
        self.total += x.shape[1]
        if not self.needs_samples:
            return
        codes = self.binning.codes(x, y)
        if self.keep_first and self.kept_samples < KEPT_SAMPLES:
            kept = tuple(c[:, :KEPT_SAMPLES - self.kept_samples].clone() for c in codes)
            self.kept.append(kept)
            self.kept_samples += kept[0].shape[1]
        if not self.tiles:  # a rank with no pairs of its own
            return
        if self.counts is not None:
            self.unbinned.append(codes)
            self.unbinned_samples += codes[0].shape[1]
            self.unbinned_bytes += code_bytes(codes)
            if (self.unbinned_samples >= self.batch_limits[0]
                    or self.unbinned_bytes >= self.batch_limits[1]):
                self._count_unbinned()
            return
        if self.cache is not None:
            self.cache.append(codes)
            self.cache_bytes += code_bytes(codes)
            if self.cache_bytes > self.cache_limit:
                if self.replay is None:
                    self.check_cache_fits(self.total)
                self.cache = None

    def _count_unbinned(self):
        a0, a1, b0, b1 = self.region  # row slices of neuron-major codes: contiguous views
        for x_codes, y_codes in batched(self.unbinned, self.batch_limits):
            self.counts.add(self.accumulate, x_codes[a0:a1], y_codes[b0:b1])
        self.unbinned, self.unbinned_samples, self.unbinned_bytes = [], 0, 0

    def _code_blocks(self):
        if self.cache is not None:
            return batched(self.cache, self.batch_limits)
        return batched((self.binning.codes(x, y) for x, y in self.replay(self.total)),
                       self.batch_limits)

    def per_pair(self, estimate, check=None):
        """float64 numpy [n_in, n_out]: ``estimate(counts, in_bins, out_bins)`` of every pair,
        where ``counts`` int32 (int64 past FLUSH_SAMPLES) [na, nb, RX, RY] holds a tile of pairs
        (all of them when they fit in memory_bound) and ``out_bins`` int32 [nb] their output
        bins; it returns [na, nb] (or [na, nb, K]: K values per pair, giving [n_in, n_out, K]).
        ``check``: as tile_values'."""
        def estimated(rect, counts, out_bins):
            return (estimate(counts, self.binning.in_bins, out_bins).cpu().numpy(),)

        r0, r1, s0, s1 = self.region
        result = None  # shaped by the first tile's values: the region's [na, nb] or [na, nb, K]
        name = f"{estimate.__module__.rsplit('.', 1)[-1]}_{estimate.__name__}"
        for (a0, a1, b0, b1), (values,) in self.tile_values(name, estimated, leading=(True,), check=check):
            if result is None:
                result = np.zeros((r1 - r0, s1 - s0) + values.shape[2:])
            result[a0 - r0:a1 - r0, b0 - s0:b1 - s0] = values
        if result is None:  # no pairs here: the estimate of no pairs gives the values' shape
            b = self.binning
            empty = torch.zeros((r1 - r0, s1 - s0, b.rows, b.cols), dtype=torch.int32, device=b.device)
            result = np.zeros(tuple(estimate(empty, b.in_bins, b.out_bins_t[s0:s1].contiguous()).shape))
        return self.gather_region(result)

    def gather_region(self, local):
        """The whole [n_in, n_out, ...] array from every rank's [region, ...] part of it (this
        rank's: ``local``)."""
        return self.shard.gather_slabs(local, self.shard.pair_axis(self.n_in, self.n_out),
                                       "gathering pair results")

    def tile_values(self, name, compute, leading, check=None):
        """(rect, compute(rect, counts, out_bins)) of each tile in turn, ``compute`` giving a
        tuple of numpy arrays (counted_tiles' arguments). With a tile store, finished tiles are
        loaded (not counted) and each new one saved at once under ``name``; ``leading[i]``: the
        i-th array starts with the tile's [a1 - a0, b1 - b0] (checked on load); ``check``
        (arrays): what is wrong with loaded values that no count could give (None: nothing)."""
        store, label = self.tile_store, self.tile_label
        loaded = {}
        if store is not None:
            for rect in self.tiles:
                shapes = [(rect[1] - rect[0], rect[3] - rect[2]) if pairs else None for pairs in leading]
                loaded[rect] = store.load(label, name, rect, shapes, check)
        counting = None  # started at the first tile to count: no pass over samples otherwise
        for rect in self.tiles:
            if loaded.get(rect) is not None:
                yield rect, loaded[rect]
                continue
            if self._all_stored:  # its samples were not counted: the tile cannot be made now
                raise ValueError(f"checkpoint: {self.tile_label}'s tile {rect} went missing from "
                                 f"{store.path} during the run; run again")
            if counting is None:
                counting = self.counted_tiles(skip={r for r, v in loaded.items() if v is not None})
            counted_rect, counts, out_bins = next(counting)
            assert counted_rect == rect
            arrays = compute(rect, counts, out_bins)
            if store is not None:
                store.save(label, name, rect, arrays)
            yield rect, arrays
        if counting is not None:
            next(counting, None)  # its last status line

    def counted_tiles(self, skip=()):
        """((a0, a1, b0, b1), counts [a1 - a0, b1 - b0, RX, RY] (int32, int64 past
        FLUSH_SAMPLES), out_bins int32 [b1 - b0]) of each tile in turn (but those in `skip`);
        a tile's counters are valid until the next one is asked for."""
        b = self.binning
        if self.counts is not None:
            with load_aware_threads() as threads:
                threads.update()
                self._count_unbinned()
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
                for x_codes, y_codes in self._code_blocks():
                    threads.update()
                    counts.add(self.accumulate, x_codes[a0:a1], y_codes[b0:b1])
                yield (a0, a1, b0, b1), counts.totals(), b.out_bins_t[b0:b1].contiguous()
        self.status(f"pair tiles {len(self.tiles)}/{len(self.tiles)}")

    def first_codes(self):
        """(x codes [n_in, M], y codes [n_out, M]) of the first M <= KEPT_SAMPLES samples
        counted: a sample of the samples, for per-sample statistics (None before any)."""
        if not self.kept:
            return None
        return tuple(torch.cat(side, dim=1) for side in zip(*self.kept))
