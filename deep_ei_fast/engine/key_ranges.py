"""Ranges of int64 key rows in the tables' sort order (lexicographic, words compared as
unsigned): what a vector-count table is split by when it would not fit its memory bound.

Because the parts are consecutive ranges of that order, concatenating their sorted tables part
by part gives exactly the unpartitioned table, and so the same count vectors in the same order.
"""
import torch

_SIGN = -2**63  # xor with it maps unsigned word order to signed int64 order


def rows_below(keys, bound):
    """bool [M]: keys [M, W] < bound [W], lexicographically with unsigned words."""
    a, b = keys ^ _SIGN, bound ^ _SIGN
    less = torch.zeros(keys.shape[0], dtype=torch.bool, device=keys.device)
    for w in reversed(range(keys.shape[1])):
        less = (a[:, w] < b[w]) | ((a[:, w] == b[w]) & less)
    return less


class KeyRange:
    """Rows r with low <= r < high (None: unbounded on that side)."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    @property
    def whole(self):
        return self.low is None and self.high is None

    def select(self, keys):
        if self.whole:
            return keys
        keep = torch.ones(keys.shape[0], dtype=torch.bool, device=keys.device)
        if self.low is not None:
            keep &= ~rows_below(keys, self.low.to(keys.device))
        if self.high is not None:
            keep &= rows_below(keys, self.high.to(keys.device))
        return keys[keep]

    def split(self, unique, parts):
        """This range cut into up to `parts` consecutive ranges at evenly spaced rows of
        `unique` (sorted distinct rows inside it), with the number of rows of `unique` in the
        first one."""
        ranks = sorted({unique.shape[0] * k // parts for k in range(1, parts)} - {0})
        cuts = [unique[r].clone() for r in ranks]
        bounds = [self.low, *cuts, self.high]
        return [KeyRange(lo, hi) for lo, hi in zip(bounds, bounds[1:])], ranks[0] if ranks else unique.shape[0]
