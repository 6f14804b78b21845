"""Which pair-histogram kernel counts a layer's pairs, and in how large batches.

Both ops compute the same counts (csrc/OPS.md); they differ on CUDA only:

- ``pair_histogram_accumulate_``: shared-memory privatized atomics (kernel "a"): one shared
  atomic per pair-sample, whatever the bins.
- ``pair_histogram_onehot_accumulate_``: onehot(X)^T . onehot(Y) on the int8 tensor cores
  (kernel "b"): (in_bins + 1) x (out_bins + 1) multiply-adds per pair-sample, each row and
  column padded to a multiple of 16, and 128 x 128 tiles of the all-pairs product.

The rule (CUDA): estimated time per pair-sample of each, pick the smaller:

    atomics: 1 / ATOMIC_RATE
    one-hot: (RXp * RYp / tile_fill) / TENSOR_RATE

where RXp, RYp are the padded table sides and tile_fill the fraction of the 128 x 128 tiles the
layer's rows and columns fill (small layers waste part of each tile). One-hot can only win for
tables padded to 16 x 16 (<= 15 bins a side) in layers that fill their tiles: with the
estimated rates below the two are then within a few percent (ratio 1.03), and the atomic
kernel is picked everywhere. The atomic kernel's speed depends on the data (samples falling in
the same cell, as saturated activations do, serialize), the tensor-core kernel's does not; the
benchmark measures both on uniform and on saturated codes.

PROVISIONAL: the two rates are estimates, not measurements: TENSOR_RATE is half the H100 SXM
datasheet's dense int8 rate (1979 TOPS = 2 ops per multiply-add) and ATOMIC_RATE a guess at the
shared-memory atomic throughput of 132 SMs. No GPU was available when this was written;
benchmarks/gpu_compare.py measures both kernels over a bins x layer-size grid and prints the
table that should replace these constants (and this rule, if the measured crossover differs).

On the CPU both ops run the same loop, and the choice does not matter.
"""
import torch

from . import ops

TENSOR_RATE = 0.99e15  # int8 multiply-adds per second (datasheet-based estimate)
ATOMIC_RATE = 4.0e12  # shared-memory atomic increments per second (estimate)
ONEHOT_TILE = 128  # rows and columns of the all-pairs product per block (pair_histogram_cuda.cu)

# (Samples, bytes of codes) per histogram call: pending codes are counted as soon as either is
# reached (engine/pair_counts.py), so they never hold more than the byte limit plus one block,
# however wide the layer (2^20 samples of a 4096->4096 layer's int32 codes would be 32 GiB).
# Each call passes once over every pair's counters (the CPU streams them through its cache; the
# CUDA kernels flush their shared-memory counters into them), so larger calls amortize that
# pass. A GPU has the memory for much larger batches, and its pass over e.g. 17.7 GB of
# 1024x1024 counters costs as much as counting ~30000 samples, so it counts up to 2^20 samples
# (or 1 GiB of codes: 2^19 samples of a 1024->1024 layer's uint8 codes) per call.
BATCH_LIMITS = {
    "cpu": (65536, 64 * 2**20),
    "cuda": (2**20, 2**30),
}


def batch_limits(device):
    """(samples, bytes of codes) per pair-histogram call on `device`."""
    return BATCH_LIMITS.get(torch.device(device).type, BATCH_LIMITS["cpu"])


def _padded(cells):
    return -(-cells // 16) * 16


def _tile_fill(extent):
    return extent / (-(-extent // ONEHOT_TILE) * ONEHOT_TILE)


def onehot_cost_ratio(rows, cols, n_in, n_out):
    """Estimated time of the one-hot kernel over that of the atomic kernel (< 1: one-hot wins).

    rows, cols: the counters' table sides (in_bins + 1, max(out_bins) + 1).
    """
    rxp, ryp = _padded(rows), _padded(cols)
    fill = _tile_fill(n_in * rxp) * _tile_fill(n_out * ryp)
    return (rxp * ryp / fill / TENSOR_RATE) / (1 / ATOMIC_RATE)


def choose(rows, cols, n_in, n_out):
    """Name of the histogram op for tables of rows x cols counters and n_in x n_out pairs."""
    if onehot_cost_ratio(rows, cols, n_in, n_out) < 1.0:
        return "pair_histogram_onehot_accumulate_"
    return "pair_histogram_accumulate_"


def histogram_op(rows, cols, n_in, n_out):
    """The op chosen by `choose` (callable as op(counts, x_codes, y_codes))."""
    return getattr(ops, choose(rows, cols, n_in, n_out))
