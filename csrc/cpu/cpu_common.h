// Helpers shared by the CPU kernels (host only).
#pragma once

#include <ATen/core/Tensor.h>
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

// Grain (in tasks) for at::parallel_for over `n` tasks of about `work_per_task`
// element operations each: about 8 chunks per thread, but never chunks of less
// than kMinChunkWork operations, so that small calls (a batch of 20 samples in
// rng="torch" mode) run on one thread instead of paying to wake the pool.
constexpr int64_t kMinChunkWork = 1 << 15;

inline int64_t grain_for(int64_t n, int64_t work_per_task) {
  const int64_t t = std::max<int64_t>(1, at::get_num_threads());
  const int64_t min_tasks = (kMinChunkWork + std::max<int64_t>(1, work_per_task) - 1) /
                            std::max<int64_t>(1, work_per_task);
  return std::max<int64_t>({int64_t(1), n / (8 * t), min_tasks});
}

}  // namespace cpu
}  // namespace deep_ei_fast
