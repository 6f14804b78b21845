"""Micro-benchmarks of the CPU engine's hot kernels (through deep_ei_fast.engine.ops).

    python benchmarks/kernels_histogram.py [--threads N] [--quick] [--kernel NAME]

Prints pair-samples/s of pair_histogram_accumulate_ (256x256 pairs, 64 bins, 1e5 samples,
uniform and saturated-sigmoid-like codes; 25x6 pairs, 8 bins, 1e6 samples; --kernel: another
kernel of engine/histogram_choice.KERNELS by name, benchmarks/kernel_table.py compares them
all), samples/s of sample_linear_layer_ (25 -> 6 sigmoid) and the
time of sort_unique_rows on 1e7 rows of 3 words.
"""
import argparse
import time

import numpy as np
import torch

from deep_ei_fast.engine import histogram_choice, ops
from deep_ei_fast.engine.ops import ActivationCode


def best_time(fn, reps):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def saturated_codes(n, S, bins, rng):
    # sigmoid of large pre-activations: most samples in the top (or bottom) bin
    z = rng.standard_normal((n, S)) * 8 + rng.standard_normal((n, 1)) * 4
    v = 1 / (1 + np.exp(-z))
    return np.minimum((v * bins).astype(np.int64), bins - 1).astype(np.uint8)


def bench_histogram(na, nb, bins, S, kind, reps, rng, kernel=histogram_choice.ATOMIC):
    if kind == "uniform":
        x = torch.from_numpy(rng.integers(0, bins + 1, (na, S), dtype=np.uint8))
        y = torch.from_numpy(rng.integers(0, bins + 1, (nb, S), dtype=np.uint8))
    else:
        x = torch.from_numpy(saturated_codes(na, S, bins, rng))
        y = torch.from_numpy(saturated_codes(nb, S, bins, rng))
    counts = torch.zeros(na, nb, bins + 1, bins + 1, dtype=torch.int32)
    op = histogram_choice.KERNELS[kernel]
    op(counts, x, y)  # warm-up (pages in counts)
    t = best_time(lambda: op(counts, x, y), reps)
    rate = na * nb * S / t
    print(f"{kernel} {na}x{nb} bins={bins} S={S:.0e} {kind:9s}: "
          f"{t * 1e3:8.1f} ms  {rate:.3e} pair-samples/s")
    return rate


def bench_linear(S, reps):
    w = torch.randn(6, 25)
    b = torch.randn(6)
    x = torch.empty(25, S)
    y = torch.empty(6, S)
    sigmoid = ActivationCode.SIGMOID
    ops.sample_linear_layer_(x, y, w, b, sigmoid, 0, 0, -1.0, 1.0)
    t = best_time(lambda: ops.sample_linear_layer_(x, y, w, b, sigmoid, 0, 0, -1.0, 1.0), reps)
    print(f"sample_linear_layer_ 25->6 sigmoid S={S:.0e}: {t * 1e3:8.1f} ms  "
          f"{S / t:.3e} samples/s")
    t = best_time(lambda: ops.philox_uniform_(x, 0, 0, 0, -1.0, 1.0), reps)
    print(f"philox_uniform_ 25 x {S:.0e}: {t * 1e3:8.1f} ms  {25 * S / t:.3e} values/s")


def bench_sort(M, reps, rng):
    # 1e7 rows of 3 words: packed 4-bit codes of 6 neurons per word (realistic)
    codes = torch.from_numpy(rng.integers(0, 8, (18, M), dtype=np.int32))
    keys = ops.pack_code_rows(codes, 10, 0)
    t = best_time(lambda: ops.sort_unique_rows(keys, None), reps)
    u, c = ops.sort_unique_rows(keys, None)
    print(f"sort_unique_rows {M:.0e} x {keys.shape[1]} words (U={u.shape[0]}): "
          f"{t * 1e3:8.1f} ms")
    w = torch.ones(M, dtype=torch.int64)
    t = best_time(lambda: ops.sort_unique_rows(keys, w), reps)
    print(f"sort_unique_rows weighted: {t * 1e3:8.1f} ms")
    full = torch.from_numpy(rng.integers(-2**63, 2**63 - 1, (M, 3), dtype=np.int64))
    t = best_time(lambda: ops.sort_unique_rows(full, None), reps)
    print(f"sort_unique_rows {M:.0e} x 3 random 64-bit words: {t * 1e3:8.1f} ms")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="histogram|linear|sort")
    p.add_argument("--kernel", default=histogram_choice.ATOMIC, choices=sorted(histogram_choice.KERNELS),
                   help="the pair-histogram kernel timed")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"threads: {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    reps = 1 if a.quick else 3
    if a.only in ("", "histogram"):
        bench_histogram(256, 256, 64, 100_000, "uniform", reps, rng, a.kernel)
        bench_histogram(256, 256, 64, 100_000, "saturated", reps, rng, a.kernel)
        bench_histogram(25, 6, 8, 1_000_000, "uniform", reps * 3, rng, a.kernel)
        bench_histogram(25, 6, 8, 1_000_000, "saturated", reps * 3, rng, a.kernel)
    if a.only in ("", "linear"):
        bench_linear(10_000_000, reps)
    if a.only in ("", "sort"):
        bench_sort(10_000_000, reps, rng)


if __name__ == "__main__":
    main()
