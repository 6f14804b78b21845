// CUDA kernel of pair_table_summary: one warp per pair table
// (pair_table_warp.cuh), then its lanes over the kept samples. Bit-identical to
// the CPU kernel: the same sums, logs and per-sample formula.
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/pair_table_summary_call.h"
#include "pair_table_warp.cuh"

namespace deep_ei_fast {
namespace cuda {
namespace {

template <typename Count, typename Code>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    pair_table_summary_kernel(const Count* __restrict counts, const int32_t* __restrict out_bins,
                              const Code* __restrict x_codes, const Code* __restrict y_codes,
                              double* __restrict summary, float* __restrict log_ratios,
                              int64_t pairs, int64_t nb, int64_t RX, int64_t RY, int64_t in_bins,
                              int64_t max_out, int64_t M, int64_t* __restrict scratch_rows,
                              double* __restrict scratch_cols) {
  const WarpSlot w(scratch_rows, scratch_cols, in_bins, max_out);
  const int lane = w.lane;
  int64_t* pi = w.pi;
  double* log_pj = w.log_pj;
  for (int64_t p = w.warp; p < pairs; p += w.warps) {
    const int64_t a = p / nb, b = p % nb, ob = out_bins[b];
    const Count* tab = counts + p * RX * RY;
    const WarpPairTable t = warp_pair_table(tab, in_bins, ob, RY, pi, log_pj, lane);
    if (lane == 0) {
      double* s = summary + p * 5;
      s[0] = t.mi_bits;
      s[1] = (double)t.total;
      s[2] = (double)t.rx;
      s[3] = (double)t.ry;
      s[4] = (double)t.rxy;
    }
    // Codes as unsigned: negative int32 codes are out of range too.
    const Code* x = x_codes + a * M;
    const Code* y = y_codes + b * M;
    float* l = log_ratios + p * M;
    for (int64_t m = lane; m < M; m += 32) {
      const uint32_t i = (uint32_t)x[m], j = (uint32_t)y[m];
      const int64_t n = (i < (uint32_t)in_bins && j < (uint32_t)ob) ? (int64_t)tab[i * RY + j] : 0;
      l[m] = n > 0 ? log_ratio_bits(log_count(n), t.log_total, log_count(pi[i]), log_pj[j]) : 0.0f;
    }
    __syncwarp();  // the scratch is reused by the next pair
  }
}

template <typename Count, typename Code>
void launch(const at::Tensor& c, const at::Tensor& ob, const at::Tensor& xc, const at::Tensor& yc,
            at::Tensor& summary, at::Tensor& log_ratios, int64_t in_bins, int64_t max_out) {
  const int64_t nb = c.size(1), pairs = c.size(0) * nb;
  const WarpLaunch w(c, pairs, in_bins, max_out);
  pair_table_summary_kernel<Count, Code>
      <<<(unsigned)w.blocks, kWarpsPerBlock * 32, 0, current_stream()>>>(
          c.data_ptr<Count>(), ob.data_ptr<int32_t>(), xc.data_ptr<Code>(), yc.data_ptr<Code>(),
          summary.data_ptr<double>(), log_ratios.data_ptr<float>(), pairs, nb, c.size(2),
          c.size(3), in_bins, max_out, xc.size(1), w.rows.data_ptr<int64_t>(),
          w.cols.data_ptr<double>());
  DEI_CUDA_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> pair_table_summary_cuda(const at::Tensor& counts,
                                                           int64_t in_bins,
                                                           const at::Tensor& out_bins,
                                                           const at::Tensor& x_codes,
                                                           const at::Tensor& y_codes) {
  check_pair_table_summary(counts, in_bins, out_bins, x_codes, y_codes, kCUDA);
  check_same_device(counts, x_codes, "x_codes");
  check_same_device(counts, y_codes, "y_codes");
  const int64_t na = counts.size(0), nb = counts.size(1);
  const c10::cuda::CUDAGuard guard(counts.device());
  const auto [ob, max_out] = checked_out_bins(out_bins, counts);
  at::Tensor summary = at::empty({na, nb, 5}, counts.options().dtype(at::kDouble));
  at::Tensor log_ratios = at::empty({na, nb, x_codes.size(1)}, counts.options().dtype(at::kFloat));
  if (na * nb == 0) return {summary, log_ratios};
  const at::Tensor c = counts.contiguous(), xc = x_codes.contiguous(), yc = y_codes.contiguous();
  with_summary_types(c, xc, [&](auto count, auto code) {
    launch<decltype(count), decltype(code)>(c, ob, xc, yc, summary, log_ratios, in_bins, max_out);
  });
  return {summary, log_ratios};
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("pair_table_summary", &deep_ei_fast::cuda::pair_table_summary_cuda);
}
