// CPU kernel of pairwise_codes_: float64 fast_histogram-style binning.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "cpu_common.h"
#include "deep_ei_fast/binning.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

template <typename code_t>
DEI_CLONES void code_row(const float* __restrict v, int64_t count, double lo, double hi,
                         double scale, int32_t bins, int32_t drop, code_t* __restrict out) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    out[i] = (code_t)pairwise_code_scaled(v[i], lo, hi, scale, bins, drop);
  }
}

void pairwise_codes_cpu(at::Tensor codes, const at::Tensor& values, const at::Tensor& lo,
                        const at::Tensor& hi, const at::Tensor& bins, int64_t drop_code,
                        bool check_bins) {
  const bool is_u8 =
      check_pairwise_codes(codes, values, lo, hi, bins, drop_code, c10::DeviceType::CPU);
  const int64_t n = values.size(0), S = values.size(1);
  if (n == 0 || S == 0) return;
  at::Tensor lo_c = lo.contiguous().cpu(), hi_c = hi.contiguous().cpu(),
             bins_c = bins.contiguous().cpu();
  const double* lop = lo_c.data_ptr<double>();
  const double* hip = hi_c.data_ptr<double>();
  const int32_t* bp = bins_c.data_ptr<int32_t>();
  if (check_bins)
    for (int64_t j = 0; j < n; ++j) check_code_bins(bp[j], bp[j], is_u8);
  at::Tensor v = values.contiguous();
  const bool direct = codes.is_contiguous();
  at::Tensor out = direct ? codes : at::empty(codes.sizes(), codes.options());
  const float* vp = v.data_ptr<float>();
  constexpr int64_t kChunk = 4096;
  const int64_t chunks_per_row = (S + kChunk - 1) / kChunk;
  const int64_t tasks = n * chunks_per_row;
  const int32_t drop = (int32_t)drop_code;
  at::parallel_for(0, tasks, grain_for(tasks, std::min(kChunk, S)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j = t / chunks_per_row;
      const int64_t i0 = (t % chunks_per_row) * kChunk;
      const int64_t cnt = std::min(kChunk, S - i0);
      const double scale = d_div((double)bp[j], d_sub(hip[j], lop[j]));
      if (is_u8) {
        code_row<uint8_t>(vp + j * S + i0, cnt, lop[j], hip[j], scale, bp[j], drop,
                          out.data_ptr<uint8_t>() + j * S + i0);
      } else {
        code_row<int32_t>(vp + j * S + i0, cnt, lop[j], hip[j], scale, bp[j], drop,
                          out.data_ptr<int32_t>() + j * S + i0);
      }
    }
  });
  if (!direct) codes.copy_(out);
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("pairwise_codes_", &deep_ei_fast::cpu::pairwise_codes_cpu);
}
