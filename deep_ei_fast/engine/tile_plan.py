"""The tile plan of one counter set: which rectangles of pairs are counted at once (a tile is a
pass over the samples), within the set's part of memory_bound.

The part first sets aside the counter set's bookkeeping (when an argument multiplies the sets)
and the chosen histogram kernel's scratch; 3/4 of the rest holds a tile's counters and the last
quarter the codes a tiled pass keeps (or the codes waiting for a whole counter's histogram
call). A part too small, or one that would need more than MAX_TILES tiles, is refused through
its MemoryShare, naming the smallest memory_bound that works.
"""
from . import histogram_choice

MAX_TILES = 4096  # plans with more tiles (each a pass over the samples) are refused


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

    The last quarter is left for the codes a tiled pass keeps (TilePlan.cache_limit). Plans of
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


class TilePlan:
    """The tiles of a region (a0, a1, b0, b1) of rows x cols pair tables, each pair's counters
    `pair_bytes`, within `share` (a MemoryShare) after `bookkeeping` bytes; ``accumulate``:
    the histogram kernel chosen for the region, whose scratch (``workspace``) is set aside
    too. ``tiles``: absolute rectangles (none for an empty region); ``whole``: one tile holds
    the region (its counters accumulate as samples come, no pass is repeated)."""

    def __init__(self, rows, cols, region, share, pair_bytes, bookkeeping):
        self.rows, self.cols, self.region, self.share = rows, cols, region, share
        self.pair_bytes, self.bookkeeping = pair_bytes, bookkeeping
        a0, a1, b0, b1 = region
        self.accumulate, self.workspace = histogram_choice.accumulator(rows, cols, a1 - a0, b1 - b0, share.bytes)
        usable = share.bytes - bookkeeping - self.workspace
        self.tiles = [] if a0 == a1 or b0 == b1 else self._plan(a1 - a0, b1 - b0, usable)
        self.cache_limit = max(0, usable) // 4  # bytes of codes kept for the tiles' passes

    @property
    def whole(self):
        return len(self.tiles) == 1

    def _smallest_part(self, usable):
        """The fewest bytes of memory_bound (or of its part) that leave `usable` bytes after the
        bookkeeping and the kernel's scratch (which grows with the bound: each step adds what
        is missing, so it ends at the least such bound)."""
        a0, a1, b0, b1 = self.region
        part = usable + self.bookkeeping
        while True:
            workspace = histogram_choice.accumulator(self.rows, self.cols, a1 - a0, b1 - b0, part)[1]
            missing = usable - (part - self.bookkeeping - workspace)
            if missing <= 0:
                return part
            part += missing

    def _plan(self, na, nb, usable):
        """This region's tiles (absolute rectangles) in `usable` bytes, or the share's refusal
        naming the smallest memory_bound that works."""
        set_aside = [f"{b} bytes of {what}" for b, what in ((self.bookkeeping, "bookkeeping"),
                                                            (self.workspace, "kernel scratch")) if b]
        subject = f"what {'each part' if self.share.parts > 1 else 'it'} leaves after {' and '.join(set_aside)}" \
            if set_aside else "it"
        problem = _tile_plan_problem(na, nb, self.pair_bytes, usable, subject)
        if problem:
            raise self.share.refusal(problem, self._smallest_part(smallest_tile_bound(na, nb, self.pair_bytes)))
        a0, b0 = self.region[0], self.region[2]
        return [(t0 + a0, t1 + a0, u0 + b0, u1 + b0) for t0, t1, u0, u1 in plan_tiles(na, nb, self.pair_bytes, usable)]

    def refuse_uncached(self, needed):
        """The refusal of a tiled plan whose passes need `needed` bytes of codes that cannot be
        regenerated (rng='torch' one-hot draws) and do not fit the codes' quarter."""
        a0, a1, b0, b1 = self.region
        whole = -(-4 * (a1 - a0) * (b1 - b0) * self.pair_bytes // 3)  # one tile: no cache
        return self.share.refusal(
            f"the pair counters need {len(self.tiles)} tiles, and rng='torch' draws cannot be "
            f"regenerated: their codes ({needed} bytes) must fit in a quarter of memory_bound",
            self._smallest_part(min(4 * needed, whole)), hint="; or use rng='philox'")
