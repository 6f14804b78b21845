"""Vector EI's counts: distinct whole input and output code vectors, counted exactly.

Codes follow deep-ei's vector binning (float32 floor formula); a sample is kept when every input
code is < in_bins and every output code is < out_bins (negative codes are kept, as in deep-ei).
Each code vector is packed into int64 words (a bijection, so different vectors never merge,
whatever the number of neurons: a row has as many words as its codes need); distinct rows are
counted by a radix sort in the kernels, with no per-sample Python work. When the input vectors
are all distinct (many inputs, e.g. 25 at 8 bins: count_distinct_prefixes, a hashing count,
says so exactly), every X and every (X, Y) occurs once and the sort is skipped: the count
vectors are the ones it would give.
"""
import math

import torch

from . import ops
from .key_ranges import KeyRange
from .memory_share import memory_share
from .merged_ranges import MergedRanges, everything_from, own_capacity
from .sharding import SINGLE
from .threads import load_aware_threads

# Sort pending rows into the table once this many are waiting (a bound on memory: 16M rows of
# a few words; one sort at the end is the common case), or fewer under a memory bound.
PENDING_ROWS = 1 << 24
# Bytes a table needs per distinct row of W words, as a multiple of (W + 1) * 8: the table,
# as many pending rows, their concatenation and the sort's copies while they are merged.
ROW_COST = 8
MIN_TABLE_ROWS = 64  # a bound that holds fewer rows per part is refused before any work
MAX_PASSES = 1024  # a table that would need more passes over the samples is refused
SPLIT_PARTS = 4  # a part that outgrows its capacity is cut into this many


# Bytes a group's table holds besides its rows (its Python objects, index vectors, tensor
# headers): charged to each part when an argument multiplies the tables (per group, per
# shuffle: MemoryShare.multiplied), since they then grow with it. Measured in benchmarks/memory_bound.py.
TABLE_BYTES = 8192


def refuse_passes(memory_bound, passes):
    """The ValueError of a table that would need `passes` (> MAX_PASSES) passes (memory_bound:
    bytes or the MemoryShare of the vector counts)."""
    share = memory_share(memory_bound)
    raise share.refusal(f"the vector counts would need more than {MAX_PASSES} passes over the samples",
                        share.bytes * passes // MAX_PASSES + 1)


def table_capacity(share, words):
    """Distinct rows of `words` int64 words a table may hold in `share` bytes."""
    return share // (ROW_COST * 8 * (words + 1))


class DistinctRows:
    """Counts of distinct int64 rows inside a KeyRange, accumulated over blocks.

    With a capacity, a table that outgrows it is cut at its own quantiles: it keeps the first
    part and hands the others to ``on_split`` (to be counted by later passes).
    """

    def __init__(self, key_range=None, capacity=None, on_split=None):
        self.range = key_range or KeyRange()
        self.capacity, self.on_split = capacity, on_split
        self.unique = None
        self.counts = None
        self.pending, self.pending_rows = [], 0

    def add(self, rows):
        rows = self.range.select(rows)
        self.pending.append(rows)
        self.pending_rows += rows.shape[0]
        limit = max(PENDING_ROWS, 0 if self.unique is None else self.unique.shape[0])
        if self.capacity is not None:
            limit = min(limit, self.capacity)
        if self.pending_rows >= limit:
            self.consolidate()

    def consolidate(self):
        if not self.pending:
            return
        rows = self.pending[0] if len(self.pending) == 1 else torch.cat(self.pending)
        self.pending, self.pending_rows = [], 0
        unique, counts = ops.sort_unique_rows(rows, None)
        if self.unique is not None:
            unique, counts = ops.sort_unique_rows(torch.cat([self.unique, unique]),
                                                  torch.cat([self.counts, counts]))
        while self.capacity is not None and unique.shape[0] > self.capacity:
            ranges, kept = self.range.split(unique, SPLIT_PARTS)
            self.range = ranges[0]
            self.on_split(ranges[1:])
            unique, counts = unique[:kept], counts[:kept]
        self.unique, self.counts = unique, counts

    def table(self):
        """(sorted distinct rows, their counts), or (None, None) before any row."""
        self.consolidate()
        return self.unique, self.counts

    def unsorted(self):
        """The blocks of rows added so far, while none has been sorted into the table (None
        once some have, or before any row)."""
        if self.unique is not None or not self.pending:
            return None
        return self.pending


def _bits_for(values):
    return max(1, (int(values) - 1).bit_length())


def _words(fields, bits):
    """int64 words of `fields` fields of `bits` bits (at least one: an empty group is one word)."""
    per_word = 64 // bits
    return max(1, -(-fields // per_word))


# Y words below this many values are counted with a dense bincount instead of a sort.
DENSE_Y_VALUES = 1 << 24


def _counts_by_y(y_words, counts):
    """Summed counts of each distinct row of y_words (the Y part of the (X, Y) table; counts
    None: one each), in the rows' sort order."""
    if y_words.shape[1] == 1:
        values = y_words[:, 0]
        if values.numel() and 0 <= int(values.min()) and int(values.max()) < DENSE_Y_VALUES:
            if counts is None:
                dense = torch.bincount(values)
                return dense[dense > 0]
            dense = torch.bincount(values, weights=counts.to(torch.float64))
            return dense[dense > 0].to(torch.int64)  # float64 sums of int counts: exact below 2^53
    return ops.sort_unique_rows(y_words.contiguous(), counts)[1]


def ones(n, device):
    """n counts of 1, as an expanded tensor (the entropy sums take it without a pass)."""
    return torch.ones(1, dtype=torch.int64, device=device).expand(n)


def likely_distinct(rows, fields, bins):
    """Whether `rows` code vectors of `fields` codes of `bins` values each are likely all
    distinct: the expected number of equal pairs among uniform codes, rows^2 / (2 bins^fields),
    is at most 1/2. Only chooses whether to try the count without sorting (an exact count
    either way)."""
    return 2 * math.log2(max(rows, 1)) <= fields * math.log2(bins)


class PartitionedTable:
    """Consecutive KeyRanges covering every row, counted one range per pass over the samples.

    Range 0 is counted live (as blocks arrive); the others by re-reading the samples through
    ``key_blocks()``. A range that outgrows the capacity while counted is split in place.
    """

    def __init__(self, capacity, memory_bound=None, live=True):
        self.capacity, self.memory_bound = capacity, memory_bound
        self.ranges = [KeyRange()]
        self.live = DistinctRows(self.ranges[0], capacity, self._split_live) if live else None

    def _split_live(self, ranges):
        self.ranges[0:1] = [self.live.range, *ranges]
        self._check_passes()

    def _check_passes(self):
        if len(self.ranges) > MAX_PASSES:
            refuse_passes(self.memory_bound, len(self.ranges))

    def tables(self, key_blocks):
        """(sorted distinct rows, counts) of every range in order: range 0 from the live
        table (if counted live), the others from one pass each over key_blocks()."""
        index = 0
        if self.live is not None:
            yield self.live.table()
            index = 1
        while index < len(self.ranges):
            def split(ranges, at=index):
                self.ranges[at + 1:at + 1] = ranges
                self._check_passes()
            rows = DistinctRows(self.ranges[index], self.capacity, split)
            for keys in key_blocks():
                rows.add(keys)
            self.ranges[index] = rows.range
            yield rows.table()
            index += 1

    @property
    def passes(self):
        return len(self.ranges)


class JointCodeCounts:
    """Distinct (X, Y) vectors of one group of inputs and outputs.

    The sorted (X, Y) table gives H(X, Y) from its counts and H(X) from the runs of its X words;
    H(Y) comes from re-sorting the table's distinct rows by their Y words alone. When the table
    would not fit ``capacity`` rows it is counted in key ranges, one pass over the samples each
    (``key_blocks`` re-reads them), and the Y counts in ranges of Y words: the count vectors come
    out in the unpartitioned table's order, so the entropies are the same floats.

    With a distributed ``shard`` each rank counts its own samples (``key_blocks`` re-reads only
    those) and the ranks' tables are merged range by range (engine/merged_ranges.py): the same
    count vectors in the same order as one process, within the same memory bound.
    """

    def __init__(self, in_index, out_index, in_bits, out_bits, capacity=None, key_blocks=None,
                 memory_bound=None, device="cpu", shard=SINGLE, bins=None):
        # Made once, on the samples' device: vector_keys then copies nothing per block.
        self.in_index = torch.tensor(in_index, dtype=torch.int64, device=device)
        self.out_index = torch.tensor(out_index, dtype=torch.int64, device=device)
        # (in_bins, out_bins): the values an input and an output code take, for the guess of
        # likely_distinct (None: the table is always sorted)
        self.bins = bins
        self.x_words = _words(len(in_index), in_bits)
        self.y_words = _words(len(out_index), out_bits)
        self.key_blocks, self.memory_bound, self.shard = key_blocks, memory_bound, shard
        self.capacity = capacity
        y_capacity = None if capacity is None else table_capacity_rows(
            capacity, self.x_words + self.y_words, self.y_words)
        if shard.distributed:
            self.own_xy = own_capacity(capacity, shard.world, ROW_COST)
            self.own_y = own_capacity(y_capacity, shard.world, ROW_COST)
            self.live = DistinctRows(KeyRange(), self.own_xy, _beyond_this_pass)
            self.merged_xy, self.merged_y = (
                MergedRanges(shard, words, device, MAX_PASSES,
                             lambda passes: refuse_passes(memory_bound, passes))
                for words in (self.x_words + self.y_words, self.y_words))
        else:
            self.xy = PartitionedTable(capacity, memory_bound)
            self.y_table = PartitionedTable(y_capacity, memory_bound, live=False)
            self.live = self.xy.live
        self.kept = 0

    def add(self, keys):
        self.kept += keys.shape[0]
        self.live.add(keys)

    @property
    def passes(self):
        """Passes over the samples the last estimate made (1: counted as they came)."""
        if self.shard.distributed:
            return self.merged_xy.passes + self.merged_y.passes
        return self.xy.passes + (self.y_table.passes if self.xy.passes > 1 else 0)

    def marginal_counts(self):
        """(kept samples, pieces): the counts of each distinct X, Y and (X, Y) as ("x" / "y" /
        "xy", int64 counts) pieces, each marginal's pieces in table order; None before any
        sample."""
        if self.shard.distributed:
            return self._sharded_marginal_counts()
        if self.kept == 0:
            return None
        with load_aware_threads() as threads:
            threads.update()
            rows = self._rows_if_inputs_distinct()
            if rows is not None:
                return self.kept, iter(self._distinct_inputs_pieces(rows))
            unique, counts = self.xy.live.table()  # may split the table: then passes > 1
            if self.xy.passes == 1:
                return self.kept, iter(self._whole(unique, counts))
        return self.kept, self._partitioned()

    def _rows_if_inputs_distinct(self):
        """The blocks of every kept row, unsorted, when their X words are all distinct, else
        None. Tried (one count_distinct_prefixes, cheaper than the sort) while no row has been
        sorted into the table yet and distinct inputs are likely; the sort follows when they
        are not."""
        blocks = self.live.unsorted()
        if blocks is None or self.bins is None or not likely_distinct(
                self.kept, self.in_index.numel(), self.bins[0]):
            return None
        return blocks if ops.count_distinct_prefixes(blocks, self.x_words) == self.kept else None

    def _distinct_inputs_pieces(self, blocks):
        """The pieces of a table whose rows all have distinct X words. Then every X and every
        (X, Y) occurs once: their count vectors are ones, which the sorted table would give
        in its order too; the Y counts come from the Y words, in their sort order."""
        each_once = ones(self.kept, blocks[0].device)
        y_words = torch.cat([block[:, self.x_words:] for block in blocks])
        if self.y_words > 1 and likely_distinct(self.kept, self.out_index.numel(), self.bins[1]):
            if ops.count_distinct_prefixes([y_words], self.y_words) == self.kept:
                return [("x", each_once), ("y", each_once), ("xy", each_once)]
        return [("x", each_once), ("y", _counts_by_y(y_words, None)), ("xy", each_once)]

    def row_marginal_counts(self):
        """(count of each distinct (X, Y), the count of its X, the count of its Y), int64 and
        aligned row by row (what a variance of the MI needs); None before any sample. Needs the
        whole table at once: a ValueError naming memory_bound when it is over capacity (then
        counted in parts)."""
        if self.shard.distributed:
            kept = self._kept_over_ranks()
            whole = self._merged_whole()[0] if kept else None
        else:
            kept, whole = self.kept, self.xy.live.table()
            whole = whole if self.xy.passes == 1 else None
        if kept == 0:
            return None
        if whole is None:
            raise ValueError(
                f"{memory_share(self.memory_bound).describe()}: the vector EI's standard error needs the "
                f"whole (X, Y) table in memory, but it has more than the {self.capacity} distinct rows "
                "one pass may hold, so it is counted in parts; raise memory_bound")
        unique, counts = whole
        x_counts = ops.prefix_counts(unique, counts, self.x_words)
        # Rows are sorted with the X words first: each new run of X words is the next X.
        new_x = torch.ones(unique.shape[0], dtype=torch.bool, device=unique.device)
        new_x[1:] = (unique[1:, :self.x_words] != unique[:-1, :self.x_words]).any(dim=1)
        x_of_row = x_counts[new_x.cumsum(0) - 1]
        _, y_index = torch.unique(unique[:, self.x_words:], dim=0, return_inverse=True)
        y_counts = torch.zeros(int(y_index.max()) + 1, dtype=torch.int64, device=unique.device)
        y_counts.index_add_(0, y_index, counts.to(torch.int64))
        return counts.to(torch.int64), x_of_row, y_counts[y_index]

    def _kept_over_ranks(self):
        return int(self.shard.sum_over_ranks(torch.tensor([self.kept]), "summing the kept samples")[0])

    def _sharded_marginal_counts(self):
        kept = self._kept_over_ranks()  # the same on every rank: all return None, or none do
        if kept == 0:
            return None
        with load_aware_threads() as threads:
            threads.update()
            whole, pieces = self._merged_whole()
            if whole is not None:
                self.merged_y.passes = 0
                return kept, iter(self._whole(*whole))
        return kept, self._sharded_partitioned(pieces)

    def _merged_whole(self):
        """((sorted distinct rows, counts), None) of every rank's samples when the merged table
        fits one process's capacity (the one-process table, on every rank), else (None, its
        merged pieces in order: those merged so far, then the rest as they are counted)."""
        pieces = self.merged_xy.pieces(lambda low: _own_rows(low, self.own_xy, self.key_blocks), self.live)
        held, rows = [], 0
        for piece in pieces:
            held.append(piece)
            rows += piece[0].shape[0]
            if self.capacity is not None and rows > self.capacity:
                return None, _drained(held, pieces)
        if len(held) == 1:
            return held[0], None
        return (torch.cat([u for u, _ in held]), torch.cat([c for _, c in held])), None

    def _sharded_partitioned(self, pieces):
        with load_aware_threads() as threads:
            threads.update()
            yield from self._x_and_xy(pieces)
            for _, counts in self.merged_y.pieces(lambda low: _own_rows(low, self.own_y, self._y_blocks)):
                if counts.numel():
                    yield "y", counts

    def _whole(self, unique, counts):
        return [("x", ops.prefix_counts(unique, counts, self.x_words)),
                ("y", _counts_by_y(unique[:, self.x_words:], counts)), ("xy", counts)]

    def _partitioned(self):
        with load_aware_threads() as threads:
            threads.update()
            yield from self._x_and_xy(self.xy.tables(self.key_blocks))
            for unique, counts in self.y_table.tables(self._y_blocks):
                if unique is not None:
                    yield "y", counts

    def _y_blocks(self):
        return (keys[:, self.x_words:].contiguous() for keys in self.key_blocks())

    def _x_and_xy(self, tables):
        """The "xy" and "x" pieces of consecutive (sorted rows, counts) ranges of the table: an
        X run cut by a range's end goes on in the next range."""
        carry = None  # (X words, count) of the last X run so far: it may go on in the next range
        for unique, counts in tables:
            if unique is None or unique.shape[0] == 0:
                continue
            yield "xy", counts
            x_counts = ops.prefix_counts(unique, counts, self.x_words)
            first, last = unique[0, :self.x_words], unique[-1, :self.x_words]
            if carry is not None:
                if torch.equal(carry[0], first):
                    x_counts = x_counts.clone()
                    x_counts[0] += carry[1]
                else:
                    yield "x", carry[1].reshape(1)
            carry = (last.clone(), x_counts[-1].clone())
            yield "x", x_counts[:-1]
        if carry is not None:
            yield "x", carry[1].reshape(1)


def _own_rows(low, capacity, key_blocks):
    """A sharded rank's DistinctRows of its keys >= low, counted in one pass over key_blocks()."""
    rows = DistinctRows(everything_from(low), capacity, _beyond_this_pass)
    for keys in key_blocks():
        rows.add(keys)
    return rows


def _beyond_this_pass(ranges):
    """A sharded rank's table drops the rows above its cut: a later pass counts them (the ranks
    agree on the ranges afterwards, engine/merged_ranges.py)."""


def _drained(held, rest):
    """The pieces of `held` (released as handed out), then those of `rest`."""
    while held:
        yield held.pop(0)
    yield from rest


def table_capacity_rows(rows, words, fewer_words):
    """Rows of `fewer_words` words that fit where `rows` rows of `words` words do."""
    return rows * (words + 1) // (fewer_words + 1)


class VectorCounts:
    """Vector EI of a layer, or of several (input group, output group) pairs of it.

    One kernel call per block and group codes the samples, drops those with any input code
    >= in_bins or output code >= out_bins (deep-ei's whole-vector filter), and packs the kept
    samples' codes into keys [X words | Y words].
    """

    def __init__(self, in_range, in_bins, out_range, out_bins, n_in, n_out, outputs_nonnegative,
                 groups=None, memory_bound=None, replay=None, device="cpu", shard=SINGLE):
        self.in_range, self.in_bins = in_range, int(in_bins)
        self.out_range, self.out_bins = out_range, int(out_bins)
        self.in_bits = _bits_for(in_bins)  # input codes always lie in [0, in_bins)
        # Output codes are < out_bins, but below-range outputs give negative codes of any size
        # unless the activation rules them out: then each code gets 32 bits, offset by 2^31.
        self.out_bits, self.out_offset = (_bits_for(out_bins), 0) if outputs_nonnegative else (32, 2**31)
        if groups is None:
            groups = [(range(n_in), range(n_out))]
        groups = [(list(i), list(o)) for i, o in groups]
        self.replay, self.samples = replay, 0
        capacities = [None] * len(groups)
        if memory_bound is not None:
            if replay is None:
                raise ValueError("memory_bound: bounded vector counts need a stream that can re-read its samples")
            # One part per group's table; each holds its bookkeeping and at least MIN_TABLE_ROWS rows.
            share = memory_share(memory_bound)
            table_share = share.split(len(groups), f"the {len(groups)} groups")
            words = [_words(len(i), self.in_bits) + _words(len(o), self.out_bits) for i, o in groups]
            bookkeeping = TABLE_BYTES if table_share.multiplied else 0
            smallest = bookkeeping + max(MIN_TABLE_ROWS * ROW_COST * 8 * (w + 1) for w in words)
            if table_share.bytes < smallest:
                raise table_share.refusal(
                    f"each table of the vector counts must hold {MIN_TABLE_ROWS} distinct rows per pass "
                    "over the samples" + (f" besides {bookkeeping} bytes of bookkeeping" if bookkeeping else ""),
                    smallest)
            capacities = [table_capacity(table_share.bytes - bookkeeping, w) for w in words]
        self.tables = [JointCodeCounts(i, o, self.in_bits, self.out_bits, capacity,
                                       lambda k=k: self._replayed_keys(k), memory_bound, device, shard,
                                       bins=(self.in_bins, self.out_bins))
                       for k, ((i, o), capacity) in enumerate(zip(groups, capacities))]

    def _keys(self, x, y, table):
        return ops.vector_keys(
            x, y, float(self.in_range[0]), float(self.in_range[1]), self.in_bins,
            float(self.out_range[0]), float(self.out_range[1]), self.out_bins,
            self.in_bits, self.out_bits, self.out_offset, table.in_index, table.out_index)

    def _replayed_keys(self, k):
        """Keys of table k for every sample added so far, re-read from the stream."""
        return (self._keys(x, y, self.tables[k]) for x, y in self.replay(self.samples))

    def add(self, x, y):
        self.samples += x.shape[1]
        for table in self.tables:
            table.add(self._keys(x, y, table))

    @property
    def passes(self):
        """Passes over the samples the last estimate made (1: counted as they came)."""
        return max(t.passes for t in self.tables)

    def marginal_counts(self):
        """JointCodeCounts.marginal_counts of every group, in order."""
        return [table.marginal_counts() for table in self.tables]

    def row_marginal_counts(self):
        """JointCodeCounts.row_marginal_counts of every group, in order."""
        return [table.row_marginal_counts() for table in self.tables]
