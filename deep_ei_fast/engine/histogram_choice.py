"""Which pair-histogram kernel counts a layer's pairs, and in how large batches.

Three kernels compute the same counts (csrc/OPS.md), each callable by name through ``KERNELS``
(the benchmarks compare them); they differ on CUDA only:

- ``pair_histogram_accumulate_``: shared-memory privatized atomics (kernel "a"): one shared
  atomic per pair-sample, whatever the bins.
- ``pair_histogram_onehot_accumulate_``: onehot(X)^T . onehot(Y) on the int8 tensor cores
  (kernel "b", WMMA in csrc/cuda): (in_bins + 1) x (out_bins + 1) multiply-adds per
  pair-sample, each row and column padded to a multiple of 16, and 128 x 128 tiles of the
  all-pairs product.
- ``pair_histogram_int8mm_accumulate_``: the same product as one cuBLASLt int8 GEMM per block
  of pairs and chunk of samples (torch._int_mm; engine/onehot_matmul.py), padded once per
  block rather than per pair: RX * RY multiply-adds per pair-sample. It needs scratch memory,
  which PairCounts sets aside from memory_bound (``workspace_bytes``).

The rule (CUDA): estimated time per pair-sample of kernels a and b, pick the smaller:

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
shared-memory atomic throughput of 132 SMs. The one measurement so far (the first H200 run,
2026-12-04, gpu_compare.py --quick: 25x6 and 256x256, 8-64 bins) agrees with the rule's choice
(a won all 12 cells) but not with its rates: a ran at 1-35% of ATOMIC_RATE (25x6 layers fill
few blocks), b at 1-8% of its estimate. The int8 GEMM path is never picked yet:
``int8mm_cost_ratio`` is its estimate, unmeasured (8 bins, 1024 x 1024: 0.33 with these
constants, 0.11 against the atomic rate measured on the H200, 1.3e12 pair-samples/s; 16 bins:
1.2; 64 bins: 17). benchmarks/kernel_table.py measures all three kernels over bins 4..128 and
layers 25x6..4096x4096 (uniform and saturated codes) in one call and writes, per cell, the
measured winner beside this rule's choice and both estimates: the rule and these constants are
to be derived from that table once it has been run on a GPU.

On the CPU kernels a and b run the same loop and the rule does not matter; the int8 GEMM path
runs on oneDNN's int8 GEMM, slower than the loop except at 4 bins on large layers
(benchmarks/results/kernel_table_cpu_2core_2026-12-04.md), and is not picked there either.
"""
import functools

import torch

from . import onehot_matmul, ops

ATOMIC = "pair_histogram_accumulate_"
ONEHOT = "pair_histogram_onehot_accumulate_"
INT8MM = "pair_histogram_int8mm_accumulate_"
# Every kernel by name (the same arguments: counts, x_codes, y_codes, check_codes).
KERNELS = {
    ATOMIC: ops.pair_histogram_accumulate_,
    ONEHOT: ops.pair_histogram_onehot_accumulate_,
    INT8MM: onehot_matmul.pair_histogram_int8mm_accumulate_,
}

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


def int8mm_cost_ratio(rows, cols, n_in, n_out):
    """Estimated time of the int8 GEMM path over that of the atomic kernel (unmeasured; the
    rule does not use it yet): RX * RY multiply-adds per pair-sample at TENSOR_RATE, its
    operands padded once per block of pairs (a few percent on 25 x 6 pairs, none on large
    layers), and the additions of each chunk's product into the counters neglected (one
    pass over the counters per chunk of thousands of samples)."""
    fill = (n_in * rows / max(onehot_matmul.MIN_ROWS, onehot_matmul.padded(n_in * rows))
            * n_out * cols / onehot_matmul.padded(n_out * cols))
    return (rows * cols / fill / TENSOR_RATE) / (1 / ATOMIC_RATE)


def choose(rows, cols, n_in, n_out):
    """Name of the histogram op for tables of rows x cols counters and n_in x n_out pairs."""
    if onehot_cost_ratio(rows, cols, n_in, n_out) < 1.0:
        return ONEHOT
    return ATOMIC


def histogram_op(rows, cols, n_in, n_out):
    """The op chosen by `choose` (callable as op(counts, x_codes, y_codes))."""
    return KERNELS[choose(rows, cols, n_in, n_out)]


def accumulator(rows, cols, n_in, n_out, memory_bound):
    """(op, workspace): the chosen op for n_in x n_out pairs of rows x cols tables, called
    as op(counts, x_codes, y_codes) on the engine's own codes (no range check: their drop code
    is the last row / column), and the scratch bytes it takes out of memory_bound. No pairs
    (a rank without a region of its own): (None, 0)."""
    if n_in == 0 or n_out == 0:
        return None, 0
    name = choose(rows, cols, n_in, n_out)
    workspace = workspace_bytes(name, memory_bound)
    extra = {"workspace_bytes": workspace} if workspace else {}
    return functools.partial(histogram_op(rows, cols, n_in, n_out), check_codes=False, **extra), workspace


def workspace_bytes(name, memory_bound):
    """Scratch bytes kernel `name` needs, set aside from memory_bound by PairCounts (only the
    int8 GEMM path has any)."""
    return onehot_matmul.workspace_bytes(memory_bound) if name == INT8MM else 0
