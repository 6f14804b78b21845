// CUDA kernel of pairwise_mi: one warp per pair table.
//
// Bit-identical to the CPU kernel given identical counts: the row / column /
// total sums are exact integers; the logs are mutual_information.h's log_f64
// (the CPU's table holds the same values); lane q accumulates the terms of the
// columns j = q (mod 32) in row-major order, which is the CPU's partial sum
// q, and the xor-shuffle reduction is the CPU's combination tree
// (mi_combine_partials).
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/mutual_information.h"

namespace deep_ei_fast {
namespace cuda {
namespace {

static_assert(kMiPartials == 32, "one partial sum per lane of a warp");

constexpr int kWarpsPerBlock = 8;

// Persistent warps: warp w handles pairs w, w + total_warps, ...; its scratch
// holds the row sums (int64 [in_bins]) and the column logs (float64 [max_out]).
// Count: int32 or int64 (tables of more than 2^31 - 1 samples).
template <typename Count>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    pairwise_mi_kernel(const Count* __restrict counts, const int32_t* __restrict out_bins,
                       double* __restrict result, int64_t pairs, int64_t nb, int64_t RX,
                       int64_t RY, int64_t in_bins, int64_t max_out,
                       int64_t* __restrict scratch_rows, double* __restrict scratch_cols) {
  const int lane = threadIdx.x & 31;
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  int64_t* pi = scratch_rows + warp * in_bins;
  double* log_pj = scratch_cols + warp * max_out;
  for (int64_t p = warp; p < pairs; p += nwarps) {
    const int64_t ob = out_bins[p % nb];
    if (in_bins == 1 || ob == 1) {
      if (lane == 0) result[p] = 0.0;
      continue;
    }
    const Count* tab = counts + p * RX * RY;
    // Column sums (lane-owned columns, coalesced across lanes) and their logs.
    for (int64_t j = lane; j < ob; j += 32) {
      int64_t s = 0;
      for (int64_t r = 0; r < in_bins; ++r) s += tab[r * RY + j];
      log_pj[j] = log_count(s);
    }
    // Row sums and the total (exact integers: any order gives the same value).
    int64_t total = 0;
    for (int64_t r = 0; r < in_bins; ++r) {
      int64_t s = 0;
      for (int64_t j = lane; j < ob; j += 32) s += tab[r * RY + j];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
      if (lane == 0) pi[r] = s;
      total += s;
    }
    __syncwarp();
    if (total == 0) {
      if (lane == 0) result[p] = 0.0;
      continue;
    }
    const double log_total = log_count(total);
    const double flush_below = mi_flush_threshold((double)total);
    double partial = 0.0;  // the CPU's sum[lane]
    for (int64_t r = 0; r < in_bins; ++r) {
      const int64_t row_total = pi[r];
      if (row_total == 0) continue;  // uniform across the warp
      const double lpi = log_count(row_total);
      const Count* row = tab + r * RY;
      for (int64_t j = lane; j < ob; j += 32) {
        const int64_t n = row[j];
        partial = d_add(partial, mi_cell_term_times_total((double)n, log_count(n), log_total,
                                                          lpi, log_pj[j], flush_below));
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
      partial = d_add(partial, __shfl_xor_sync(0xffffffffu, partial, off));
    if (lane == 0) result[p] = mi_bits_from_sum(partial, (double)total);
    __syncwarp();  // the scratch is reused by the next pair
  }
}

at::Tensor pairwise_mi_cuda(const at::Tensor& counts, int64_t in_bins,
                            const at::Tensor& out_bins) {
  check_pairwise_mi(counts, in_bins, out_bins, kCUDA);
  const int64_t na = counts.size(0), nb = counts.size(1), RX = counts.size(2),
                RY = counts.size(3);
  const c10::cuda::CUDAGuard guard(counts.device());
  at::Tensor ob = out_bins.to(counts.device()).contiguous();
  int64_t max_out = 1;
  if (nb > 0) {
    const auto [lo, hi] = min_max(ob);  // the CPU kernel's checks
    check_out_bins(lo, hi, RY);
    max_out = hi;
  }
  at::Tensor result = at::empty({na, nb}, counts.options().dtype(at::kDouble));
  const int64_t pairs = na * nb;
  if (pairs == 0) return result;
  at::Tensor c = counts.contiguous();
  // Enough warps to fill the GPU, but scratch of at most ~256 MiB.
  const int64_t per_warp_bytes = 8 * (in_bins + max_out);
  int64_t warps = std::min<int64_t>(pairs, (int64_t)multiprocessor_count() * 64);
  warps = std::max<int64_t>(1, std::min<int64_t>(warps, (256LL << 20) / per_warp_bytes));
  const int64_t blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
  warps = blocks * kWarpsPerBlock;
  at::Tensor rows = at::empty({warps * in_bins}, counts.options().dtype(at::kLong));
  at::Tensor cols = at::empty({warps * max_out}, counts.options().dtype(at::kDouble));
  if (c.scalar_type() == at::kLong)
    pairwise_mi_kernel<int64_t><<<(unsigned)blocks, kWarpsPerBlock * 32, 0, current_stream()>>>(
        c.data_ptr<int64_t>(), ob.data_ptr<int32_t>(), result.data_ptr<double>(), pairs, nb, RX,
        RY, in_bins, max_out, rows.data_ptr<int64_t>(), cols.data_ptr<double>());
  else
    pairwise_mi_kernel<int32_t><<<(unsigned)blocks, kWarpsPerBlock * 32, 0, current_stream()>>>(
        c.data_ptr<int32_t>(), ob.data_ptr<int32_t>(), result.data_ptr<double>(), pairs, nb, RX,
        RY, in_bins, max_out, rows.data_ptr<int64_t>(), cols.data_ptr<double>());
  DEI_CUDA_LAUNCH_CHECK();
  return result;
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("pairwise_mi", &deep_ei_fast::cuda::pairwise_mi_cuda);
}
