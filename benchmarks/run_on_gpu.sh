#!/usr/bin/env bash
# On a GPU machine, from the repository root, in one call: build the CUDA extension, write the
# compiler's resource report of the kernels, run the tests (CUDA cases included), the kernel
# table (benchmarks/kernel_table.py), the per-epoch profile (benchmarks/profile_epoch.py) and
# the GPU benchmark's targets (benchmarks/gpu_compare.py, its kernel grid left to the table).
# Everything it produces goes to $OUT (default: benchmarks/results/gpu_run).
#
#   OUT=/some/dir bash benchmarks/run_on_gpu.sh [--quick]
#
# Python packages missing there (deep-ei 0.7.0 and fast-histogram, for the comparisons with
# deep-ei) can be carried as wheels in .whl/ (see /work/.library/device/README.md); they are
# installed into /tmp/site first when present.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-benchmarks/results/gpu_run}"
mkdir -p "${OUT}"
export PYTHONUNBUFFERED=1
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.0;9.0}"

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site${PYTHONPATH:+:${PYTHONPATH}}"
fi

echo "== nvidia-smi" | tee "${OUT}/build.log"
nvidia-smi 2>&1 | tee -a "${OUT}/build.log"
echo "== build (TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST}; every command in build_full.log)" | tee -a "${OUT}/build.log"
python3 -m pip install -v --no-build-isolation --no-deps -e . > "${OUT}/build_full.log" 2>&1
tail -n 20 "${OUT}/build_full.log" | tee -a "${OUT}/build.log"
python3 -c 'import deep_ei_fast as d; assert d.build_info().cuda, "no CUDA kernels in the build"' \
    || { echo "the build has no CUDA kernels" | tee -a "${OUT}/build.log"; exit 1; }

# How _C was linked (issue 17: a copy of libstdc++ linked into _C made every C++ error of an op
# a segfault): the toolchain, the flags it inherits, the link line, what _C needs and defines.
echo "== link report" | tee "${OUT}/link.log"
{
    g++ --version | head -n 1
    stdcxx="$(g++ -print-file-name=libstdc++.so)"
    echo "g++ -print-file-name=libstdc++.so: ${stdcxx}"
    # A linker script (gcc-toolset: libstdc++_nonshared.a) or a missing file (libstdc++.a used).
    if [[ -f "${stdcxx}" ]] && grep -qa "INPUT" "${stdcxx}"; then cat "${stdcxx}"; fi
    ls -l "$(g++ -print-file-name=libstdc++.a)" 2>&1
    python3 -c 'import sysconfig as s; [print(k, "=", s.get_config_var(k)) for k in ("CC", "CXX", "LDSHARED", "LDFLAGS", "CFLAGS")]'
    env | grep -E '^(CC|CXX|CFLAGS|CXXFLAGS|CPPFLAGS|LDFLAGS)=' || echo "no compiler flags in the environment"
    echo "link line:"; grep -E -- ' -shared ' "${OUT}/build_full.log" | tail -n 1
    readelf -d deep_ei_fast/_C*.so | grep NEEDED
    ldd deep_ei_fast/_C*.so | grep -E 'stdc|gcc_s|torch_cpu'
    python3 tests/extension_symbols_check.py
} 2>&1 | tee -a "${OUT}/link.log"

echo "== ptxas resource usage (sm_90)" | tee "${OUT}/ptxas.txt"
INC=$(python3 -c 'import torch.utils.cpp_extension as c; print(" ".join("-I" + p for p in c.include_paths()))')
PYINC=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
nvcc -c csrc/cuda/pair_histogram_cuda.cu -o /tmp/pair_histogram_cuda.o -std=c++20 -O3 --fmad=false \
    -gencode arch=compute_90,code=sm_90 -Xptxas -v -Icsrc -Icsrc/include -I"${PYINC}" ${INC} \
    -DTORCH_EXTENSION_NAME=_C -Xcompiler -fPIC 2>&1 | grep -E "Compiling entry|registers|spill|stack" \
    | tee -a "${OUT}/ptxas.txt"

echo "== tests" | tee "${OUT}/tests.log"
python3 -m pytest -q -rs tests/test_cuda.py tests/test_kernels.py tests/test_op_schemas.py tests/test_devices.py \
    tests/test_int8mm.py tests/test_extension_symbols.py tests/test_null_segments.py 2>&1 | tee -a "${OUT}/tests.log"
tests_rc=${PIPESTATUS[0]}

# The kernel table: every histogram kernel checked bit for bit against the atomic one, then timed
# over bins x layer sizes (a few minutes; KERNEL_TABLE_ARGS=--quick for layers up to 256x256).
echo "== kernel table" | tee "${OUT}/kernel_table.log"
python3 benchmarks/kernel_table.py --out "${OUT}/kernel_table.md" ${KERNEL_TABLE_ARGS:-} 2>&1 \
    | tee -a "${OUT}/kernel_table.log"
table_rc=${PIPESTATUS[0]}

echo "== per-epoch profile" | tee "${OUT}/profile_epoch.log"
python3 benchmarks/profile_epoch.py --out "${OUT}/profile_epoch.md" 2>&1 | tee -a "${OUT}/profile_epoch.log"
profile_rc=${PIPESTATUS[0]}

echo "== benchmark" | tee "${OUT}/bench.log"
python3 benchmarks/gpu_compare.py --no-kernel-grid --out "${OUT}/gpu_results.md" "$@" 2>&1 | tee -a "${OUT}/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "tests rc=${tests_rc} kernel table rc=${table_rc} profile rc=${profile_rc} benchmark rc=${bench_rc}"
exit $(( tests_rc != 0 || table_rc != 0 || profile_rc != 0 || bench_rc != 0 ))
