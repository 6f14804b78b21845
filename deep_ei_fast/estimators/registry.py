"""Estimator names -> their classes (the estimator= argument); one line per estimator.

"plugin": deep-ei's plug-in estimate (biased upward by about (Rx-1)(Ry-1) / (2 N ln 2) bits a
pair). "miller_madow": each entropy corrected by (R-1)/(2N). "shuffle": plug-in minus the
plug-in MI of `shuffles` shifted pairings of the same samples.
"""
from .miller_madow import MillerMadow
from .plugin import Plugin
from .shuffle import Shuffle
from .standard_errors import WithStandardErrors

ESTIMATORS = {
    "plugin": Plugin,
    "miller_madow": MillerMadow,
    "shuffle": Shuffle,
}


def check_estimator(estimator, shuffles=1):
    """ValueError / TypeError naming the argument, before any work."""
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {tuple(ESTIMATORS)}, got {estimator!r}")
    if not isinstance(shuffles, int) or isinstance(shuffles, bool):
        raise TypeError(f"shuffles must be an integer, got {shuffles!r}")
    if shuffles < 1:
        raise ValueError(f"shuffles must be at least 1, got {shuffles!r}")


def estimator_of(settings, standard_errors=False):
    """The estimator of (checked) MeasurementSettings; standard_errors=True: its results with
    their standard errors (PairStatistics, VectorEstimates)."""
    estimator = ESTIMATORS[settings.estimator](settings.shuffles)
    return WithStandardErrors(estimator) if standard_errors else estimator
