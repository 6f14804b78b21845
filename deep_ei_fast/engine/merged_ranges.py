"""A vector table counted over a process group's ranks in consecutive key ranges, each range's
pieces gathered and merged, so that every rank sees exactly the one-process table, piece by piece
in its order, while no rank holds more than its memory bound allows.

Each rank counts only its own blocks' keys. Per pass, every rank counts its rows from the
range's low end up, in a table of ``own_capacity`` rows (one that outgrows it keeps its lowest
rows, as DistinctRows does); the range's high end is then the lowest of the ranks' ends (None:
the rank kept every row above low), each rank keeps its rows below it, and the ranks' rows are
gathered and merged: the one-process table's rows in [low, high), in its order. The next range
starts at high. Every rank sees the same ends and pieces, so all make the same passes and raise
the same errors.

The memory bound: of a table's share, 1/ROW_COST is left for the merged rows a caller keeps to
hold the whole table (at most its one-process capacity of bare rows); the rest is split 1 : world
between the rank's own table and the gathered rows of a range (at most world * own_capacity,
each costing what a table row does: the gather buffers, their concatenation and the sort's
copies). So a merged piece never exceeds world / (world + 1) of the one-process capacity.
"""
import torch

from . import ops
from .key_ranges import KeyRange, rows_below

MIN_OWN_ROWS = 4  # a table that splits keeps at least one row (it cuts at quartiles)


def own_capacity(capacity, world, row_cost):
    """Rows a rank's own table holds per pass when one process's table holds `capacity` (None:
    unbounded)."""
    if capacity is None:
        return None
    return max(MIN_OWN_ROWS, capacity * (row_cost - 1) // (row_cost * (world + 1)))


class MergedRanges:
    """Merged pieces of one table kind (rows of `words` int64 words) of a sharded measurement."""

    def __init__(self, shard, words, device, max_passes, too_many_passes):
        self.shard, self.words, self.device = shard, words, device
        self.max_passes, self.too_many_passes = max_passes, too_many_passes
        self.passes = 0  # of the last pieces() run

    def pieces(self, count_from, first=None):
        """(sorted distinct rows, int64 counts) of every rank's rows, range by range in table
        order. count_from(low) counts this rank's rows >= low (a KeyRange's low) in one pass
        over its samples, returning a DistinctRows; `first`: one already counted from the
        lowest key (the live table)."""
        low, table, self.passes = None, first, 0
        while True:
            self.passes += 1
            if self.passes > self.max_passes:
                self.too_many_passes(self.passes)
            if table is None:
                table = count_from(low)
            unique, counts = table.table()
            high = self._lowest_end(table.range.high)
            table = None
            if unique is None:
                unique = torch.zeros((0, self.words), dtype=torch.int64, device=self.device)
                counts = torch.zeros(0, dtype=torch.int64, device=self.device)
            elif high is not None:
                below = int(rows_below(unique, high.to(unique.device)).sum())  # a sorted prefix
                unique, counts = unique[:below], counts[:below]
            yield self._merge(unique, counts)
            if high is None:
                return
            low = high

    def _lowest_end(self, high):
        """The lowest of the ranks' range ends (None where every rank's range is open)."""
        mine = torch.zeros((0, self.words), dtype=torch.int64) if high is None else high.reshape(1, -1)
        ends = torch.cat(self.shard.gather_rows(mine.cpu(), "agreeing on the vector key ranges"))
        if ends.shape[0] == 0:
            return None
        return ops.sort_unique_rows(ends.contiguous(), None)[0][0].clone()

    def _merge(self, unique, counts):
        tables = self.shard.gather_rows(unique, "gathering the vector tables")
        totals = self.shard.gather_rows(counts.to(torch.int64), "gathering the vector counts")
        return ops.sort_unique_rows(torch.cat(tables), torch.cat(totals))


def everything_from(low):
    """The KeyRange of rows >= low (None: every row)."""
    return KeyRange(low, None)
