"""The shuffle estimator's null: each output paired with another sample's input.

Samples are cut into segments of NULL_SEGMENT consecutive samples, aligned at multiples of
NULL_SEGMENT from sample 0 (and cut where a take of the stream ends: a convergence round); within
a segment, null k pairs output sample i with the input of sample i - k (cyclically). Samples
are i.i.d., so the pairs are independent with the same marginals as the real ones, and counting
them gives the plug-in MI's bias at the same sample count. The shift is a fixed derangement of
each segment (no random numbers: results stay reproducible), and the segments depend on the
sample index alone, not on the device, batch size, noise block, tile or thread count.

The blocks handed to the counters are cut from segments (engine/noise_streams.py): each block
starts at a multiple of NULL_SEGMENT or ends before the next one, so shifted_outputs cuts each
block into segments counted from its start. rng="torch" is the exception: its blocks are
deep-ei's chunks (cut by the samples asked for and the layer's widths only), segmented from each
chunk's start.
"""
import torch

from .memory_share import memory_share

# Samples per segment of the null pairing: the noise blocks are multiples of it.
NULL_SEGMENT = 256


def block_shift(block, k):
    """The cyclic shift of null k (k >= 1) in a block of `block` samples: k when k < block,
    otherwise wrapped into 1..block-1 so no sample meets its own input (a 1-sample block
    cannot be deranged and is paired with itself)."""
    if block < 2:
        return 0
    return 1 + (k - 1) % (block - 1)


def shifted_outputs(y, k):
    """y [n_out, S] with the samples of each segment of NULL_SEGMENT rolled by null k's shift,
    segments counted from the block's start (the last one, shorter, by its own shift)."""
    n_out, count = y.shape
    whole = count // NULL_SEGMENT * NULL_SEGMENT
    parts = []
    if whole:
        segments = y[:, :whole].reshape(n_out, whole // NULL_SEGMENT, NULL_SEGMENT)
        parts.append(segments.roll(block_shift(NULL_SEGMENT, k), dims=2).reshape(n_out, whole))
    if whole < count:
        parts.append(y[:, whole:].roll(block_shift(count - whole, k), dims=1))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class ShiftedPairing:
    """A consumer of (x, y) blocks that hands (x, y shifted by null k) to another consumer."""

    def __init__(self, consumer, k):
        self.consumer, self.k = consumer, k

    def add(self, x, y):
        self.consumer.add(x, shifted_outputs(y, self.k))


def shifted_replay(replay, k):
    """A replay(total) of the null-k pairing (None when the stream cannot replay)."""
    if replay is None:
        return None
    return lambda total: ((x, shifted_outputs(y, k)) for x, y in replay(total))


class PairCountsWithNulls:
    """The real pair counts and one null PairCounts per shift, fed from the same blocks.

    All of them together stay under memory_bound: each gets an equal part (a MemoryShare, so
    each tiles, caches codes and keeps its bookkeeping within its part, and a part too small
    is refused naming memory_bound and shuffles). Only the real counts keep the first samples'
    codes (the standard errors read them).
    """

    def __init__(self, make_counts, memory_bound, replay, null_shifts=()):
        self.null_shifts = tuple(null_shifts)
        share = memory_share(memory_bound).split(1 + len(self.null_shifts), f"shuffles={len(self.null_shifts)}")
        # make_counts(share, replay, label, keep_first): label names the counters in a checkpoint.
        self.counts = make_counts(share, replay, "counts", True)
        self.nulls = [make_counts(share, shifted_replay(replay, k), f"null{k}", False) for k in self.null_shifts]
        self._consumers = [self.counts] + [ShiftedPairing(n, k) for n, k in zip(self.nulls, self.null_shifts)]

    def add(self, x, y):
        for consumer in self._consumers:
            consumer.add(x, y)

    @property
    def needs_samples(self):
        return any(counts.needs_samples for counts in [self.counts, *self.nulls])

    def skip(self, samples):
        for counts in [self.counts, *self.nulls]:
            counts.skip(samples)

    def check_cache_fits(self, samples):
        for counts in [self.counts, *self.nulls]:
            counts.check_cache_fits(samples)

    @property
    def replay(self):
        return self.counts.replay
