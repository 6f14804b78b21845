// CUDA kernel of pairwise_mi: one warp per pair table (pair_table_warp.cuh).
#include <torch/library.h>

#include "cuda_common.cuh"
#include "pair_table_warp.cuh"

namespace deep_ei_fast {
namespace cuda {
namespace {

// Persistent warps: warp w handles pairs w, w + total_warps, ...; its scratch
// holds the row sums (int64 [in_bins]) and the column logs (float64 [max_out]).
// Count: int32 or int64 (tables of more than 2^31 - 1 samples).
template <typename Count>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    pairwise_mi_kernel(const Count* __restrict counts, const int32_t* __restrict out_bins,
                       double* __restrict result, int64_t pairs, int64_t nb, int64_t RX,
                       int64_t RY, int64_t in_bins, int64_t max_out,
                       int64_t* __restrict scratch_rows, double* __restrict scratch_cols) {
  const WarpSlot w(scratch_rows, scratch_cols, in_bins, max_out);
  const int lane = w.lane;
  int64_t* pi = w.pi;
  double* log_pj = w.log_pj;
  for (int64_t p = w.warp; p < pairs; p += w.warps) {
    const int64_t ob = out_bins[p % nb];
    if (in_bins == 1 || ob == 1) {
      if (lane == 0) result[p] = 0.0;
      continue;
    }
    const WarpPairTable t =
        warp_pair_table(counts + p * RX * RY, in_bins, ob, RY, pi, log_pj, lane);
    if (lane == 0) result[p] = t.mi_bits;
    __syncwarp();  // the scratch is reused by the next pair
  }
}

at::Tensor pairwise_mi_cuda(const at::Tensor& counts, int64_t in_bins,
                            const at::Tensor& out_bins) {
  check_pairwise_mi(counts, in_bins, out_bins, kCUDA);
  const int64_t na = counts.size(0), nb = counts.size(1), RX = counts.size(2),
                RY = counts.size(3);
  const c10::cuda::CUDAGuard guard(counts.device());
  const auto [ob, max_out] = checked_out_bins(out_bins, counts);
  at::Tensor result = at::empty({na, nb}, counts.options().dtype(at::kDouble));
  const int64_t pairs = na * nb;
  if (pairs == 0) return result;
  at::Tensor c = counts.contiguous();
  const WarpLaunch launch(counts, pairs, in_bins, max_out);
  const unsigned blocks = (unsigned)launch.blocks;
  int64_t* rows = launch.rows.data_ptr<int64_t>();
  double* cols = launch.cols.data_ptr<double>();
  if (c.scalar_type() == at::kLong)
    pairwise_mi_kernel<int64_t><<<blocks, kWarpsPerBlock * 32, 0, current_stream()>>>(
        c.data_ptr<int64_t>(), ob.data_ptr<int32_t>(), result.data_ptr<double>(), pairs, nb, RX,
        RY, in_bins, max_out, rows, cols);
  else
    pairwise_mi_kernel<int32_t><<<blocks, kWarpsPerBlock * 32, 0, current_stream()>>>(
        c.data_ptr<int32_t>(), ob.data_ptr<int32_t>(), result.data_ptr<double>(), pairs, nb, RX,
        RY, in_bins, max_out, rows, cols);
  DEI_CUDA_LAUNCH_CHECK();
  return result;
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("pairwise_mi", &deep_ei_fast::cuda::pairwise_mi_cuda);
}
