"""The counters a measurement's estimator needs: the real ones and their null pairings."""
from ..engine.null_pairing import ShiftedPairing
from ..engine.vector_counts import VectorCounts
from ..estimators.registry import Estimator


def estimator_of(settings):
    return Estimator(settings.estimator, settings.shuffles)


def vector_counts(m, groups=None):
    spec = m.spec
    return VectorCounts(spec.in_range, m.in_bins, spec.out_range, m.out_bins, spec.n_in, spec.n_out,
                        spec.outputs_bounded_below_range(), groups)


class VectorWithNulls:
    """A measurement's VectorCounts and one null VectorCounts per shift of its estimator; a
    consumer of (x, y) blocks."""

    def __init__(self, m, groups=None):
        self.estimator = estimator_of(m.settings)
        self.counts = vector_counts(m, groups)
        self.nulls = [vector_counts(m, groups) for _ in self.estimator.null_shifts]
        self._consumers = [self.counts] + [ShiftedPairing(n, k) for n, k in
                                           zip(self.nulls, self.estimator.null_shifts)]

    def add(self, x, y):
        for consumer in self._consumers:
            consumer.add(x, y)

    def eis(self):
        return self.estimator.vector_eis(self.counts, self.nulls)

    def statistics(self):
        return self.estimator.vector_statistics(self.counts, self.nulls)


def pair_counts(m, binning, samples=None):
    """A PairCountsWithNulls for the measurement's estimator."""
    return m.pair_counts_with_nulls(binning, samples, estimator_of(m.settings).null_shifts)
