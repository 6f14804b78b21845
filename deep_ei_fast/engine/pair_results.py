"""Where counting and estimating meet: an estimator's per_tile arrays of every tile of a
measurement's pair counters (checkpointed: tile_checkpoint.py), assembled into whole arrays,
gathered over the ranks of a process group, and handed to the estimator's finish.

An estimator (estimators/estimator.py) says, for the real pairing and for a null one, what
each array of its per_tile is (``tile_layouts``): PerPair (it starts with the tile's pairs: the
rank's region is filled tile by tile, then the regions gathered into [n_in, n_out, ...]) or
PER_KEPT_SAMPLE ([M] over the kept samples: summed over the tiles in tile order, then over the
ranks in rank order; a rank without pairs adds zeros).
"""
from dataclasses import dataclass

import numpy as np
import torch

from .tile_checkpoint import tile_results


@dataclass(frozen=True)
class PerPair:
    """A per_tile array [a1 - a0, b1 - b0, *trailing] of values per pair."""
    trailing: tuple = ()


@dataclass(frozen=True)
class PerKeptSample:
    """A per_tile array [M] of values per kept sample, summed over the tiles."""


PER_PAIR = PerPair()
PER_KEPT_SAMPLE = PerKeptSample()


@dataclass
class Parts:
    """What an estimator's finish gets: each pairing's per_tile arrays made whole."""
    real: tuple  # the real pairing's arrays, in per_tile's order
    nulls: list  # a tuple of arrays per null pairing, in the order of the estimator's null_shifts
    samples: int  # samples counted


def estimate(pairs, estimator):
    """``estimator.finish`` of pair counts with their nulls (a null_pairing.WithNulls, counted
    for the estimator's null_shifts and kept_samples)."""
    return estimator.finish(Parts(_whole(pairs.counts, estimator),
                                  [_whole(null, estimator) for null in pairs.nulls], pairs.counts.total))


def _whole(counts, estimator):
    """The whole arrays of estimator.per_tile over a PairCounts' tiles, on every rank."""
    real = counts.real
    layouts = estimator.tile_layouts(real)
    r0, r1, s0, s1 = counts.region
    local = [np.zeros((r1 - r0, s1 - s0) + layout.trailing) if isinstance(layout, PerPair) else None
             for layout in layouts]
    results = tile_results(counts, estimator.per_tile, estimator.tile_key(real),
                           [isinstance(layout, PerPair) for layout in layouts],
                           lambda arrays: estimator.tile_problem(arrays, real))
    for (a0, a1, b0, b1), arrays in results:
        for k, (layout, array) in enumerate(zip(layouts, arrays)):
            if isinstance(layout, PerPair):
                local[k][a0 - r0:a1 - r0, b0 - s0:b1 - s0] = array
            else:  # summed in tile order (a checkpoint's tiles hold their own)
                local[k] = array.copy() if local[k] is None else local[k] + array
    shard, whole = counts.shard, []
    for layout, array in zip(layouts, local):
        if isinstance(layout, PerPair):
            whole.append(shard.gather_slabs(array, shard.pair_axis(counts.n_in, counts.n_out),
                                            "gathering pair results"))
            continue
        if array is None:  # no tiles here (a rank without pairs): the kept samples' sum is 0
            array = np.zeros(min(estimator.kept_samples, counts.total))
        whole.append(shard.sum_over_ranks(torch.from_numpy(array), "summing the pairs' Phi").numpy())
    return tuple(whole)
