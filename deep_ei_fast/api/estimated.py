"""The counters a measurement's estimator needs: the real ones and their null pairings."""
from ..engine.memory_share import memory_share
from ..engine.null_pairing import ShiftedPairing, shifted_replay
from ..estimators.registry import Estimator


def estimator_of(settings):
    return Estimator(settings.estimator, settings.shuffles)


class VectorWithNulls:
    """A measurement's VectorCounts and one null VectorCounts per shift of its estimator; a
    consumer of (x, y) blocks (with a process group: only of this rank's blocks, the tables
    being merged over the ranks)."""

    def __init__(self, m, groups=None, memory_bound=None):
        self.estimator = estimator_of(m.settings)
        self.own_blocks_only = m.shard.distributed  # see Measurement.feed
        shifts = self.estimator.null_shifts
        share = memory_share(memory_bound or m.settings.memory_bound).split(  # tables share the bound
            1 + len(shifts), f"shuffles={len(shifts)}")
        self.counts = m.vector_counts(groups, share)
        self.nulls = [m.vector_counts(groups, share, shifted_replay(m.vector_replay, k)) for k in shifts]
        self._consumers = [self.counts] + [ShiftedPairing(n, k) for n, k in
                                           zip(self.nulls, self.estimator.null_shifts)]

    def add(self, x, y):
        for consumer in self._consumers:
            consumer.add(x, y)

    def eis(self):
        return self.estimator.vector_eis(self.counts, self.nulls)

    def statistics(self):
        return self.estimator.vector_statistics(self.counts, self.nulls)


def pair_counts(m, binning, memory_bound=None):
    """A PairCountsWithNulls for the measurement's estimator (under memory_bound: default the
    settings')."""
    return m.pair_counts_with_nulls(binning, estimator_of(m.settings).null_shifts, memory_bound)
