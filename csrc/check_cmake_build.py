"""Prove that the CMake-built op library works: load it and call ops.

    python csrc/check_cmake_build.py [path/to/libdeep_ei_fast_ops.so]
"""
import glob
import os
import sys

import torch


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
    print(f"ok: {lib} registers torch.ops.deep_ei_fast")


if __name__ == "__main__":
    main()
