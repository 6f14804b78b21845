"""engine/merged_ranges.py in one process (a shard of one rank: its gathers hand back its own
rows), where the range planning can be checked against a plain sort: the pieces are
consecutive, each within the rank's capacity, and together exactly the whole sorted table.
Two ranks are checked in tests/test_distributed.py (the *_vector_passes cases)."""
import pytest
import torch

from deep_ei_fast.engine import ops
from deep_ei_fast.engine.key_ranges import rows_below
from deep_ei_fast.engine.merged_ranges import MergedRanges, everything_from, own_capacity
from deep_ei_fast.engine.sharding import SINGLE
from deep_ei_fast.engine.vector_counts import ROW_COST, DistinctRows


def _keys(seed, blocks=6, rows=500):
    g = torch.Generator().manual_seed(seed)
    # Both word signs, and repeats: the order is unsigned and counts must add up.
    return [torch.randint(-2**62, 2**62, (rows, 2), generator=g) * (1 + (b % 2)) // 3 * 3
            for b in range(blocks)] + [torch.full((50, 2), 7, dtype=torch.int64)]


def _counter(blocks, capacity):
    """count_from(low): one rank's pass over `blocks`, as vector_counts makes it."""
    def count_from(low):
        rows = DistinctRows(everything_from(low), capacity, lambda ranges: None)
        for keys in blocks:
            rows.add(keys)
        return rows
    return count_from


@pytest.mark.parametrize("capacity", [8, 60, 10**6])
def test_pieces_are_the_sorted_table_in_consecutive_ranges(capacity):
    blocks = _keys(capacity)
    whole_rows, whole_counts = ops.sort_unique_rows(torch.cat(blocks), None)
    merged = MergedRanges(SINGLE, 2, "cpu", 10**6, lambda passes: None)
    pieces = list(merged.pieces(_counter(blocks, capacity)))
    assert all(0 < u.shape[0] <= capacity for u, _ in pieces)
    for (before, _), (after, _) in zip(pieces, pieces[1:]):
        assert bool(rows_below(before[-1:], after[0]).all())  # consecutive, never overlapping
    assert torch.equal(torch.cat([u for u, _ in pieces]), whole_rows)
    assert torch.equal(torch.cat([c for _, c in pieces]), whole_counts)
    # A table of capacity c keeps at least c / 4 rows when it splits.
    assert merged.passes == len(pieces) <= 1 + 4 * whole_rows.shape[0] // capacity


def test_too_many_passes_are_refused_by_the_callback():
    def refuse(passes):
        raise ValueError(f"passes={passes}")

    with pytest.raises(ValueError, match="passes=4"):
        list(MergedRanges(SINGLE, 2, "cpu", 3, refuse).pieces(_counter(_keys(1), 4)))


def test_own_capacity_leaves_room_for_the_merge():
    # own rows + world ranks' gathered rows, at ROW_COST, plus C bare rows kept: within C * ROW_COST
    for capacity in (64, 1000, 10**7):
        for world in (2, 3, 8):
            own = own_capacity(capacity, world, ROW_COST)
            assert (world + 1) * own * ROW_COST + capacity <= capacity * ROW_COST
    assert own_capacity(None, 2, ROW_COST) is None and own_capacity(64, 64, ROW_COST) == 4
