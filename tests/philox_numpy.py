"""Philox4x32-10 (Random123) in vectorised numpy, as the oracle of philox_uniform_."""
import numpy as np

M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Arrays of uint32 counters (broadcast) and a uint32 key -> the 4 output words (uint64 arrays)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & MASK for c in (c0, c1, c2, c3))
    k0 = np.uint64(k0) & MASK
    k1 = np.uint64(k1) & MASK
    for r in range(10):
        if r:
            k0 = (k0 + W0) & MASK
            k1 = (k1 + W1) & MASK
        p0 = M0 * c0
        p1 = M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK
        c0, c1, c2, c3 = (hi1 ^ c1 ^ k0), lo1, (hi0 ^ c3 ^ k1), lo0
    return c0, c1, c2, c3


def philox_uniform(seed, sample_start, neuron_start, n, S, lo, hi):
    """float32 [n, S] as specified for philox_uniform_ in csrc/OPS.md."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    s = np.arange(sample_start, sample_start + S, dtype=np.uint64)[None, :]
    j = np.arange(neuron_start, neuron_start + n, dtype=np.uint64)[:, None]
    words = philox4x32_10(s & MASK, s >> np.uint64(32), j >> np.uint64(2), np.zeros_like(s),
                          seed & 0xFFFFFFFF, seed >> 32)
    words = np.stack(np.broadcast_arrays(*words))  # [4, n, S]
    lane = (j & np.uint64(3)).astype(np.int64)  # [n, 1]
    r = np.take_along_axis(words, np.broadcast_to(lane, (n, S))[None], axis=0)[0]
    u = (r >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    span = np.float32(float(hi) - float(lo))
    return (span * u).astype(np.float32) + np.float32(lo)
