"""Estimator names (the estimator= argument) -> their classes: an estimator is added with its
module (estimator.py says what it implements) and its entry here. Each module's docstring says
what its estimator estimates (docs/estimators.rst compares them)."""
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
