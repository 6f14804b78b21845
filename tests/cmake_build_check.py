"""Prove that the CMake-built op library works: load it and call ops.

    python tests/cmake_build_check.py [path/to/libdeep_ei_fast_ops.so]

Run by .ci/run step 2 (not a pytest module: it needs the CMake build first). It calls
torch.ops.deep_ei_fast directly rather than deep_ei_fast.engine.ops, on purpose: it tests the
standalone CMake library, loaded without the Python package.
"""
import glob
import os
import re
import sys

import torch


def built_with_cuda(lib):
    """DEI_CUDA from the CMakeCache.txt beside `lib` (None when there is none)."""
    cache = os.path.join(os.path.dirname(os.path.abspath(lib)), "CMakeCache.txt")
    if not os.path.exists(cache):
        return None
    with open(cache) as f:
        m = re.search(r"^DEI_CUDA:BOOL=(\w+)$", f.read(), re.MULTILINE)
    return None if m is None else m.group(1).upper() in ("ON", "TRUE", "1", "YES")


def main():
    if len(sys.argv) > 1:
        lib = sys.argv[1]
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        found = glob.glob(os.path.join(here, "..", "cmake-build", "libdeep_ei_fast_ops*.so"))
        if not found:
            sys.exit("no cmake-build/libdeep_ei_fast_ops*.so: build with CMake first")
        lib = found[0]
    torch.ops.load_library(lib)
    ops = torch.ops.deep_ei_fast
    out = torch.empty(3, 10)
    ops.philox_uniform_(out, 0, 0, 0, 0.0, 1.0)
    assert bool((out >= 0).all() and (out < 1).all()), out
    counts = torch.zeros(1, 1, 3, 3, dtype=torch.int32)
    x = torch.tensor([[0, 1, 1, 2]], dtype=torch.uint8)
    ops.pair_histogram_accumulate_(counts, x, x)
    mi = ops.pairwise_mi(counts, 2, torch.tensor([2], dtype=torch.int32))
    assert abs(mi.item() - 0.9182958340544896) < 1e-12, mi  # H(1/3, 2/3) in bits
    cuda, version = ops.build_info()
    expected = built_with_cuda(lib)
    # DEI_WITH_CUDA (csrc/flags/with_cuda.txt) reaches build_info.cpp exactly when CMake
    # compiled the CUDA sources.
    assert expected is None or cuda == expected, (cuda, version, expected)
    print(f"ok: {lib} registers torch.ops.deep_ei_fast (build_info: cuda={cuda} {version!r})")


if __name__ == "__main__":
    main()
