"""Plain-words readings of a 95% interval, for the reports' answers."""
from .tables import excludes_zero


def direction(mean, half, up="higher", down="lower"):
    """"higher" / "lower" when the interval excludes 0, else "not distinguishable from 0"."""
    if not excludes_zero(mean, half):
        return "not distinguishable from 0"
    return up if mean > 0 else down


def count_directions(values):
    """(higher, lower, undetermined) counts of (mean, half) pairs."""
    higher = sum(1 for m, h in values if excludes_zero(m, h) and m > 0)
    lower = sum(1 for m, h in values if excludes_zero(m, h) and m < 0)
    return higher, lower, len(values) - higher - lower
