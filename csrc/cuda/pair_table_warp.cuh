// One warp's pass over one pair table, shared by the pairwise_mi and
// pair_table_summary CUDA kernels so that both give the same bits.
//
// Bit-identical to the CPU's PairTable::mi_bits given identical counts: the
// row / column / total sums are exact integers; the logs are
// mutual_information.h's log_f64 (the CPU's table holds the same values); lane
// q accumulates the terms of the columns j = q (mod 32) in row-major order,
// which is the CPU's partial sum q, and the xor-shuffle reduction is the CPU's
// combination tree (mi_combine_partials).
#pragma once

#include "cuda_common.cuh"
#include "deep_ei_fast/mutual_information.h"

namespace deep_ei_fast {
namespace cuda {

static_assert(kMiPartials == 32, "one partial sum per lane of a warp");

__device__ __forceinline__ int64_t warp_sum(int64_t s) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  return s;
}

// A thread's place in a persistent-warp kernel (warp w handles pairs w, w +
// warps, ...) and its warp's scratch: row sums int64 [in_bins], column logs
// float64 [max_out].
struct WarpSlot {
  int lane;
  int64_t warp, warps;
  int64_t* pi;
  double* log_pj;

  __device__ WarpSlot(int64_t* rows, double* cols, int64_t in_bins, int64_t max_out)
      : lane(threadIdx.x & 31),
        warp(((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5),
        warps(((int64_t)gridDim.x * blockDim.x) >> 5),
        pi(rows + warp * in_bins),
        log_pj(cols + warp * max_out) {}
};

// What every lane gets back; the warp's scratch `pi` (int64 [in_bins]) then
// holds the row sums and `log_pj` (float64 [ob]) the column sums' logs.
struct WarpPairTable {
  double mi_bits;  // 0 for a single row or column, or no samples
  int64_t total, rx, ry, rxy;  // samples, occupied rows, columns, cells
  double log_total;
};

template <typename Count>
__device__ WarpPairTable warp_pair_table(const Count* __restrict tab, int64_t in_bins,
                                         int64_t ob, int64_t RY, int64_t* __restrict pi,
                                         double* __restrict log_pj, int lane) {
  WarpPairTable t{0.0, 0, 0, 0, 0, 0.0};
  // Column sums (lane-owned columns, coalesced across lanes) and their logs.
  int64_t ry = 0;
  for (int64_t j = lane; j < ob; j += 32) {
    int64_t s = 0;
    for (int64_t r = 0; r < in_bins; ++r) s += tab[r * RY + j];
    log_pj[j] = log_count(s);
    ry += s > 0;
  }
  t.ry = warp_sum(ry);
  // Row sums and the total (exact integers: any order gives the same value).
  for (int64_t r = 0; r < in_bins; ++r) {
    int64_t s = 0;
    for (int64_t j = lane; j < ob; j += 32) s += tab[r * RY + j];
    s = warp_sum(s);
    if (lane == 0) pi[r] = s;
    t.total += s;
    t.rx += s > 0;
  }
  __syncwarp();
  t.log_total = log_count(t.total);
  if (t.total == 0) return t;
  const double flush_below = mi_flush_threshold((double)t.total);
  double partial = 0.0;  // the CPU's sum[lane]
  int64_t occupied = 0;
  for (int64_t r = 0; r < in_bins; ++r) {
    const int64_t row_total = pi[r];
    if (row_total == 0) continue;  // uniform across the warp
    const double lpi = log_count(row_total);
    const Count* row = tab + r * RY;
    for (int64_t j = lane; j < ob; j += 32) {
      const int64_t n = row[j];
      occupied += n > 0;
      partial = d_add(partial, mi_cell_term_times_total((double)n, log_count(n), t.log_total,
                                                        lpi, log_pj[j], flush_below));
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    partial = d_add(partial, __shfl_xor_sync(0xffffffffu, partial, off));
  t.rxy = warp_sum(occupied);
  if (in_bins > 1 && ob > 1) t.mi_bits = mi_bits_from_sum(partial, (double)t.total);
  return t;
}

constexpr int kWarpsPerBlock = 8;

// out_bins on the counts' device, checked as the CPU kernels check them, and
// their largest value (1 when there are none).
inline std::pair<at::Tensor, int64_t> checked_out_bins(const at::Tensor& out_bins,
                                                       const at::Tensor& counts) {
  at::Tensor ob = out_bins.to(counts.device()).contiguous();
  int64_t max_out = 1;
  if (ob.numel() > 0) {
    const auto [lo, hi] = min_max(ob);
    check_out_bins(lo, hi, counts.size(3));
    max_out = hi;
  }
  return {ob, max_out};
}

// A persistent-warp launch over `pairs` tables (warp w handles pairs w,
// w + warps, ...): enough warps to fill the GPU, and each warp's scratch of
// row sums (int64 [in_bins]) and column logs (float64 [max_out]), at most
// ~256 MiB in all.
struct WarpLaunch {
  int64_t blocks;
  at::Tensor rows, cols;

  WarpLaunch(const at::Tensor& counts, int64_t pairs, int64_t in_bins, int64_t max_out) {
    const int64_t per_warp_bytes = 8 * (in_bins + max_out);
    int64_t warps = std::min<int64_t>(pairs, (int64_t)multiprocessor_count() * 64);
    warps = std::max<int64_t>(1, std::min<int64_t>(warps, (256LL << 20) / per_warp_bytes));
    blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
    warps = blocks * kWarpsPerBlock;
    rows = at::empty({warps * in_bins}, counts.options().dtype(at::kLong));
    cols = at::empty({warps * max_out}, counts.options().dtype(at::kDouble));
  }
};

}  // namespace cuda
}  // namespace deep_ei_fast
