// CUDA kernel of pairwise_codes_: binning.h's float64 rule, one thread per value.
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/binning.h"

namespace deep_ei_fast {
namespace cuda {
namespace {

template <typename code_t>
__global__ void pairwise_codes_kernel(code_t* __restrict codes, const float* __restrict values,
                                      const double* __restrict lo, const double* __restrict hi,
                                      const int32_t* __restrict bins, int64_t n, int64_t S,
                                      int32_t drop) {
  DEI_GRID_STRIDE(t, n * S) {
    const int64_t j = t / S;
    // The scale is computed as on the CPU (bins / (hi - lo), float64) per value:
    // a division is cheap next to the memory traffic.
    codes[t] = (code_t)pairwise_code(values[t], lo[j], hi[j], bins[j], drop);
  }
}

void pairwise_codes_cuda(at::Tensor codes, const at::Tensor& values, const at::Tensor& lo,
                         const at::Tensor& hi, const at::Tensor& bins, int64_t drop_code,
                         bool check_bins) {
  const bool is_u8 = check_pairwise_codes(codes, values, lo, hi, bins, drop_code, kCUDA);
  check_same_device(values, codes, "codes");
  const int64_t n = values.size(0), S = values.size(1);
  if (n == 0 || S == 0) return;
  const c10::cuda::CUDAGuard guard(values.device());
  const auto dev = values.device();
  at::Tensor lo_d = lo.to(dev).contiguous(), hi_d = hi.to(dev).contiguous(),
             bins_d = bins.to(dev).contiguous();
  // The CPU kernel's checks on bins (two scalars come back: a synchronization),
  // unless the caller built the bins itself (check_bins=False: the engine).
  if (check_bins) {
    const auto [bmin, bmax] = min_max(bins_d);
    check_code_bins(bmin, bmax, is_u8);
  }
  at::Tensor v = values.contiguous();
  at::Tensor out = codes.is_contiguous() ? codes : at::empty(codes.sizes(), codes.options());
  const int threads = 256;
  const unsigned blocks = blocks_for(n * S, threads);
  if (is_u8) {
    pairwise_codes_kernel<uint8_t><<<blocks, threads, 0, current_stream()>>>(
        out.data_ptr<uint8_t>(), v.data_ptr<float>(), lo_d.data_ptr<double>(),
        hi_d.data_ptr<double>(), bins_d.data_ptr<int32_t>(), n, S, (int32_t)drop_code);
  } else {
    pairwise_codes_kernel<int32_t><<<blocks, threads, 0, current_stream()>>>(
        out.data_ptr<int32_t>(), v.data_ptr<float>(), lo_d.data_ptr<double>(),
        hi_d.data_ptr<double>(), bins_d.data_ptr<int32_t>(), n, S, (int32_t)drop_code);
  }
  DEI_CUDA_LAUNCH_CHECK();
  if (!out.is_same(codes)) codes.copy_(out);
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("pairwise_codes_", &deep_ei_fast::cuda::pairwise_codes_cuda);
}
