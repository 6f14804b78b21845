// Helpers shared by the CPU kernels (host only).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(DEI_NO_TARGET_CLONES)
// Hot loops get an AVX2 clone picked at load time. The AVX2 clone does not
// enable FMA, and the build uses -ffp-contract=off, so both clones compute
// bit-identical results.
#define DEI_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DEI_CLONES
#endif

namespace deep_ei_fast {
namespace cpu {

// Grain (in tasks) so that at::parallel_for splits `n` tasks into about
// 8 chunks per thread.
inline int64_t grain_for(int64_t n) {
  const int64_t t = std::max<int64_t>(1, at::get_num_threads());
  return std::max<int64_t>(1, n / (8 * t));
}

}  // namespace cpu
}  // namespace deep_ei_fast
