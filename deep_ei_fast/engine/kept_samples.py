"""The codes of a measurement's first samples, kept for per-sample statistics (the standard
errors of estimators/uncertainty.py read the counts at these samples' cells)."""
import torch


class KeptSamples:
    """(x codes, y codes) of the first `limit` samples added (0: none are kept)."""

    def __init__(self, limit):
        self.limit, self.blocks, self.count = limit, [], 0

    def add(self, codes):
        if self.count < self.limit:
            kept = tuple(c[:, :self.limit - self.count].clone() for c in codes)
            self.blocks.append(kept)
            self.count += kept[0].shape[1]

    def codes(self):
        """(x codes [n_in, M], y codes [n_out, M]) of the M <= limit samples kept (None before
        any)."""
        if not self.blocks:
            return None
        return tuple(torch.cat(side, dim=1) for side in zip(*self.blocks))
