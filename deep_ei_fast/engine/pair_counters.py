"""Pair counters: int32 cells, added into int64 totals before they could overflow."""
import torch

COUNTER_BYTES = 4  # int32 counters
# int32 counters hold at most this many samples; then they are added into int64 totals, so
# more samples are counted exactly (the totals cost 8 more bytes a cell, planned for when the
# sample count is known to need them).
FLUSH_SAMPLES = 2**31 - 1
WIDE_COUNTER_BYTES = COUNTER_BYTES + 8


def cell_bytes(samples):
    """Bytes a counter cell takes for `samples` samples (None: not known, int32 planned)."""
    return WIDE_COUNTER_BYTES if samples is not None and samples > FLUSH_SAMPLES else COUNTER_BYTES


class Counters:
    """int32 pair counters [na, nb, RX, RY], added into int64 totals before they could
    overflow (FLUSH_SAMPLES samples)."""

    def __init__(self, narrow):
        self.narrow, self.wide, self.held = narrow, None, 0

    def add(self, accumulate, x_codes, y_codes):
        samples = x_codes.shape[1]
        if self.held + samples > FLUSH_SAMPLES:
            self.flush()
        accumulate(self.narrow, x_codes, y_codes)
        self.held += samples

    def flush(self):
        if self.wide is None:
            self.wide = self.narrow.to(torch.int64)
        else:
            self.wide += self.narrow
        self.narrow.zero_()
        self.held = 0

    def totals(self):
        """The counts so far: the int32 counters, or the int64 totals once they are needed."""
        if self.wide is None:
            return self.narrow
        self.flush()
        return self.wide
