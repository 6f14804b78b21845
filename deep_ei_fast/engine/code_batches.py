"""The codes of pair counting between the blocks that bring them and the histogram calls.

A histogram call streams every pair's counters through the cache once, so few large calls cost
far less memory traffic than many small ones: blocks of (x codes, y codes) are concatenated
into batches of at least a device's batch limits (histogram_choice.batch_limits). Whole
counters hold their pending blocks until then (PendingCodes); tiled counters need every
sample's codes once per tile (PassCodes: kept while they fit, else the samples regenerated).
"""
import torch


def code_bytes(codes):
    """Bytes of an (x_codes, y_codes) block."""
    return sum(c.numel() * c.element_size() for c in codes)


def batched(code_blocks, limits):
    """Concatenates consecutive (x_codes, y_codes) blocks into batches for the histogram,
    each of at least limits[0] samples or limits[1] bytes."""
    pending, samples, size = [], 0, 0
    for codes in code_blocks:
        pending.append(codes)
        samples += codes[0].shape[1]
        size += code_bytes(codes)
        if samples >= limits[0] or size >= limits[1]:
            yield _concatenate(pending)
            pending, samples, size = [], 0, 0
    if pending:
        yield _concatenate(pending)


def _concatenate(blocks):
    if len(blocks) == 1:
        return blocks[0]
    return tuple(torch.cat(side, dim=1) for side in zip(*blocks))


class PendingCodes:
    """Code blocks not yet counted by whole counters, with their samples and bytes: due for a
    histogram call once either reaches `limits` (samples, bytes)."""

    def __init__(self, limits):
        self.limits = limits
        self.blocks, self.samples, self.bytes = [], 0, 0

    def add(self, codes):
        """Holds a block; True when the pending blocks are due."""
        self.blocks.append(codes)
        self.samples += codes[0].shape[1]
        self.bytes += code_bytes(codes)
        return self.samples >= self.limits[0] or self.bytes >= self.limits[1]

    def take(self):
        """The pending blocks as batches (none pending afterwards)."""
        blocks = self.blocks
        self.blocks, self.samples, self.bytes = [], 0, 0
        return batched(blocks, self.limits)


class PassCodes:
    """The codes each pass of a tiled count reads: the blocks as added while they fit in
    `limit` bytes; beyond, none are kept and every pass regenerates the samples through
    ``replay(total)`` (counter-based noise) and codes them again with ``code(x, y)``."""

    def __init__(self, limit, replay, code):
        self.limit, self.replay, self.code = limit, replay, code
        self.cached, self.bytes = [], 0

    def add(self, codes):
        """Keeps a block while the cache fits; False when this block made it overflow."""
        if self.cached is None:
            return True
        self.cached.append(codes)
        self.bytes += code_bytes(codes)
        if self.bytes > self.limit:
            self.cached = None
            return False
        return True

    def batches(self, total, limits):
        """Batches of the codes of the first `total` samples (every sample added so far)."""
        if self.cached is not None:
            return batched(self.cached, limits)
        return batched((self.code(x, y) for x, y in self.replay(total)), limits)
