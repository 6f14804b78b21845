"""The interface of an estimator: what a measurement counts for it, and how counts become bits.

An estimator is a class, one module each (plugin.py, miller_madow.py, shuffle.py, ...),
registered by name in registry.py. The engine (engine/measurement.py, engine/pair_results.py)
reads, of an instance:

- ``null_shifts``: the null pairings to count beside the real one (engine/null_pairing.py);
- ``kept_samples``: how many first samples' codes each tile carries (0: none);
- ``tile_key(real)``, ``tile_layouts(real)``: the name a checkpoint gives the arrays per_tile
  returns for a tile of the real pairing (real=True) or of a null one, and what each array is
  (engine/pair_results.py: PER_PAIR values, or values over the kept samples);
- ``per_tile(tile)``: those arrays from a counted Tile (engine/pair_counts.py);
- ``tile_problem(arrays, real)``: what no tile could hold (a checkpoint's check; None: fine);
- ``finish(parts)``: the result from every tile's arrays made whole (engine/pair_results.Parts);
- ``vector_eis(vectors)``, ``finish_vectors(vectors)``: each group's estimate as floats, and the
  result, from vector tables (engine/null_pairing.WithNulls of engine/vector_counts.VectorCounts).

This base class implements that interface for estimates of MI in bits; an estimator implements
``pair_values`` and ``vector_values`` (and, to use null pairings, ``null_shifts``, ``combined``
and the variance they add). estimators/standard_errors.py wraps any estimator to give its
standard errors too.
"""
from typing import ClassVar

import numpy as np

from ..engine.pair_results import PER_PAIR


class Estimator:
    """MI in bits of every pair, and of vector tables. ``shuffles``: the null pairings asked for
    (only estimators that count null pairings use it)."""
    name: ClassVar[str]  # its name in registry.ESTIMATORS, the estimator= argument
    kept_samples = 0

    def __init__(self, shuffles=1):
        self.shuffles = shuffles

    def __init_subclass__(cls, **kwargs):
        """An estimator that asks for null pairings must say how they combine with the real one:
        the default combined() ignores them, and they would be counted (time, memory_bound)
        for nothing."""
        super().__init_subclass__(**kwargs)
        if cls.null_shifts is not Estimator.null_shifts and cls.combined is Estimator.combined:
            raise TypeError(f"estimator {cls.__name__} counts null pairings (null_shifts) but does not "
                            "combine them with the real pairing: implement combined(real, nulls)")

    @property
    def null_shifts(self):
        """The null pairings to count beside the real one (engine/null_pairing.py's shifts)."""
        return ()

    # What an estimator implements ------------------------------------------------------------
    def pair_values(self, tile, summary=None):
        """float64 tensor [na, nb]: this estimator's MI in bits of each pair of a Tile, of the real
        pairing or of a null one (``tile.real``). ``summary``: the tile's
        count_tables.pair_summaries when they were computed already (standard errors), for an
        estimator that reads them (None: not computed)."""
        raise NotImplementedError

    def values_problem(self, values):
        """What no tile's pair_values could hold (e.g. a negative plug-in MI), or None."""
        return None

    def vector_values(self, vector_counts):
        """This estimator's MI in bits of each group of a VectorCounts, as a list of floats
        (read through its ``marginal_counts()`` or ``row_marginal_counts()``)."""
        raise NotImplementedError

    def combined(self, real, nulls):
        """The estimate from the real pairing's values and each null pairing's (numpy arrays or
        lists of floats, of pairs or of vector groups): the real ones, for an estimator
        without nulls."""
        return real

    def null_variance(self, df, n):
        """Variance in bits^2 that the null pairings add to each pair's estimate, elementwise
        over numpy arrays of degrees of freedom and samples (None: no nulls, none added)."""
        return None

    def vector_null_variance(self, k, nulls):
        """Variance in bits^2 that the null pairings (VectorCounts) add to group k's estimate
        (None: none)."""
        return None

    # The interface the engine calls ----------------------------------------------------------
    def tile_key(self, real):
        return f"{self.name}_pairwise_mi_bits"

    def tile_layouts(self, real):
        return (PER_PAIR,)

    def per_tile(self, tile):
        return (self.pair_values(tile).cpu().numpy(),)

    def tile_problem(self, arrays, real):
        return self.values_problem(arrays[0])

    def finish(self, parts):
        """[n_in, n_out] float64 numpy: the estimate of every pair."""
        return self.combined(parts.real[0], [null[0] for null in parts.nulls])

    def vector_eis(self, vectors):
        """Each group's estimate, a list of floats (what a convergence rule compares)."""
        values = self.vector_values(vectors.counts)
        if not vectors.nulls:
            return values
        nulls = [self.vector_values(null) for null in vectors.nulls]
        return np.asarray(self.combined(values, nulls), dtype=np.float64).tolist()

    def finish_vectors(self, vectors):
        """Each group's estimate, a list of floats."""
        return self.vector_eis(vectors)
