"""The counters a measurement's estimator needs: the real ones and their null pairings."""
from ..engine.null_pairing import ShiftedPairing, shifted_replay
from ..engine.vector_counts import VectorCounts
from ..estimators.registry import Estimator


def estimator_of(settings):
    return Estimator(settings.estimator, settings.shuffles)


def vector_counts(m, groups, memory_bound, replay):
    """VectorCounts of the measurement's layer under memory_bound, re-reading its samples (or
    a null pairing of them) through replay when it must count in parts."""
    spec = m.spec
    return VectorCounts(spec.in_range, m.in_bins, spec.out_range, m.out_bins, spec.n_in, spec.n_out,
                        spec.outputs_bounded_below_range(), groups, memory_bound=memory_bound,
                        replay=replay, device=m.device)


class VectorWithNulls:
    """A measurement's VectorCounts and one null VectorCounts per shift of its estimator; a
    consumer of (x, y) blocks."""

    def __init__(self, m, groups=None, memory_bound=None):
        self.estimator = estimator_of(m.settings)
        shifts = self.estimator.null_shifts
        share = (memory_bound or m.settings.memory_bound) // (1 + len(shifts))  # tables share the bound
        self.counts = vector_counts(m, groups, share, m.stream.replay)
        self.nulls = [vector_counts(m, groups, share, shifted_replay(m.stream.replay, k)) for k in shifts]
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
