"""Checkpointing wraps the pass over the pairs: a checkpoint's finished tiles are loaded instead
of counted, and each newly computed tile is saved at once (engine/checkpoint.py's TileStore).

A tile file holds what an estimator computed from a tile's counts (its per_tile arrays), under
the counters' label ("counts", "null<k>") and the estimator's key for those arrays (its name and
what they are: estimators/estimator.py), so a restart with the same arguments loads them back.
"""


def holds_every_tile(store, label, rects):
    """Whether `store` (a TileStore, or None) holds every tile of `label`'s counters: then their
    samples need not be counted (known before any sample: tiles are saved after counting)."""
    return store is not None and all(store.finished(label, rect) for rect in rects)


def tile_results(counts, per_tile, key, pair_arrays, problem=None):
    """(rect, per_tile(tile)) of each of a PairCounts' tiles in turn, per_tile giving a tuple of
    numpy arrays. With the counts' tile store, finished tiles are loaded (not counted) and each
    new one saved at once under ``key``; ``pair_arrays[i]``: the i-th array starts with the
    tile's [a1 - a0, b1 - b0] pairs (checked on load); ``problem(arrays)``: what is wrong with
    loaded values that no count could give (None: nothing)."""
    store, label = counts.tile_store, counts.tile_label
    loaded = {}
    if store is not None:
        for rect in counts.tiles:
            shapes = [(rect[1] - rect[0], rect[3] - rect[2]) if pairs else None for pairs in pair_arrays]
            loaded[rect] = store.load(label, key, rect, shapes, problem)
    counting = None  # started at the first tile to count: no pass over samples otherwise
    for rect in counts.tiles:
        if loaded.get(rect) is not None:
            yield rect, loaded[rect]
            continue
        if not counts.needs_samples:  # its samples were not counted: the tile cannot be made now
            raise ValueError(f"checkpoint: {label}'s tile {rect} went missing from "
                             f"{store.path} during the run; run again")
        if counting is None:
            counting = counts.each_tile(skip={r for r, v in loaded.items() if v is not None})
        tile = next(counting)
        assert tile.rect == rect
        arrays = per_tile(tile)
        if store is not None:
            store.save(label, key, rect, arrays)
        yield rect, arrays
    if counting is not None:
        next(counting, None)  # its last status line
