// CUDA kernels of philox_uniform_ and sample_linear_layer_.
//
// Same function as the CPU kernels, bit for bit: the Philox stream and the
// uniform map come from philox.h; the Linear layer accumulates each output in
// float32 in increasing k order with separately rounded products and sums
// (__fmul_rn / __fadd_rn, never contracted into FMAs), bias last; the
// activations are activation.h's libm-free float32 formulas. So x and y equal
// the CPU's for every weight, not only for exact ones.
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/activation.h"
#include "deep_ei_fast/philox.h"

namespace deep_ei_fast {
namespace cuda {
namespace {

// One thread per (sample, group of 4 neurons): one Philox call gives the
// values of the (up to) four neurons of the group that lie in the output.
__global__ void philox_uniform_kernel(float* __restrict out, int64_t stride_n,
                                      int64_t stride_s, int64_t n, int64_t S, uint64_t seed,
                                      uint64_t sample_start, int64_t neuron_start,
                                      int64_t groups, float range, float lo) {
  const int64_t first_group = neuron_start >> 2;
  DEI_GRID_STRIDE(t, groups * S) {
    const int64_t i = t % S;  // consecutive threads: consecutive samples (coalesced)
    const int64_t g = first_group + t / S;
    uint32_t r[4];
    philox_sample_group(seed, sample_start + (uint64_t)i, (uint32_t)g, r);
#pragma unroll
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t j = g * 4 + lane - neuron_start;  // row in `out`
      if (j >= 0 && j < n) out[j * stride_n + i * stride_s] = uniform_map(r[lane], range, lo);
    }
  }
}

void launch_philox(at::Tensor& out, int64_t seed, int64_t sample_start, int64_t neuron_start,
                   double lo, double hi) {
  const int64_t n = out.size(0), S = out.size(1);
  if (n == 0 || S == 0) return;
  const int64_t groups = ((neuron_start + n - 1) >> 2) - (neuron_start >> 2) + 1;
  const int threads = 256;
  philox_uniform_kernel<<<blocks_for(groups * S, threads), threads, 0, current_stream()>>>(
      out.data_ptr<float>(), out.stride(0), out.stride(1), n, S, (uint64_t)seed,
      (uint64_t)sample_start, neuron_start, groups, uniform_range(lo, hi), (float)lo);
  DEI_CUDA_LAUNCH_CHECK();
}

void philox_uniform_cuda(at::Tensor out, int64_t seed, int64_t sample_start,
                         int64_t neuron_start, double lo, double hi) {
  check_sample_out(out, kCUDA, "out");
  TORCH_CHECK(neuron_start >= 0, "neuron_start must be >= 0");
  TORCH_CHECK(sample_start >= 0, "sample_start must be >= 0");
  const c10::cuda::CUDAGuard guard(out.device());
  launch_philox(out, seed, sample_start, neuron_start, lo, hi);  // any strides
}

// y[o, i] = act(sum_k x[k, i] * w[o, k] + bias[o]) on tiles of kTileO outputs x
// kTileS samples: x and w tiles go through shared memory, each thread owns a
// kPerO x kPerS block of outputs and walks k in increasing order, so every
// output sees exactly the CPU's sequence of roundings.
constexpr int kTileO = 64, kTileS = 64, kTileK = 16;
constexpr int kPerO = 4, kPerS = 4;
constexpr int kLinearThreads = (kTileO / kPerO) * (kTileS / kPerS);  // 256

template <int ACT>
__global__ void __launch_bounds__(kLinearThreads)
    linear_act_kernel(const float* __restrict x, const float* __restrict w,
                      const float* __restrict bias, float* __restrict y, int64_t n_in,
                      int64_t n_out, int64_t S) {
  __shared__ float xs[kTileK][kTileS];
  __shared__ float ws[kTileK][kTileO + 1];  // +1: the transposed store avoids bank conflicts
  const int tx = threadIdx.x % (kTileS / kPerS);  // sample direction
  const int ty = threadIdx.x / (kTileS / kPerS);  // output direction
  const int64_t s0 = (int64_t)blockIdx.x * kTileS;
  const int64_t o0 = (int64_t)blockIdx.y * kTileO;
  // -0.0 + p == p for every p (also -0 and NaN), so starting from -0.0 makes the
  // first sum equal the first product, as on the CPU (z = x0 * w0). With no
  // inputs at all the CPU starts from +0.0.
  const float init = n_in == 0 ? 0.0f : -0.0f;
  float acc[kPerO][kPerS];
#pragma unroll
  for (int a = 0; a < kPerO; ++a)
#pragma unroll
    for (int b = 0; b < kPerS; ++b) acc[a][b] = init;

  for (int64_t k0 = 0; k0 < n_in; k0 += kTileK) {
    for (int e = threadIdx.x; e < kTileK * kTileS; e += kLinearThreads) {
      const int kk = e / kTileS, ss = e % kTileS;
      const int64_t k = k0 + kk, s = s0 + ss;
      xs[kk][ss] = (k < n_in && s < S) ? x[k * S + s] : 0.0f;
    }
    for (int e = threadIdx.x; e < kTileK * kTileO; e += kLinearThreads) {
      const int oo = e / kTileK, kk = e % kTileK;
      const int64_t k = k0 + kk, o = o0 + oo;
      ws[kk][oo] = (k < n_in && o < n_out) ? w[o * n_in + k] : 0.0f;
    }
    __syncthreads();
    const int kmax = (int)min64(kTileK, n_in - k0);
    for (int kk = 0; kk < kmax; ++kk) {  // increasing k: the CPU's order
      float xv[kPerS], wv[kPerO];
#pragma unroll
      for (int b = 0; b < kPerS; ++b) xv[b] = xs[kk][tx + b * (kTileS / kPerS)];
#pragma unroll
      for (int a = 0; a < kPerO; ++a) wv[a] = ws[kk][ty + a * (kTileO / kPerO)];
#pragma unroll
      for (int a = 0; a < kPerO; ++a)
#pragma unroll
        for (int b = 0; b < kPerS; ++b) acc[a][b] = f_add(acc[a][b], f_mul(xv[b], wv[a]));
    }
    __syncthreads();
  }
#pragma unroll
  for (int a = 0; a < kPerO; ++a) {
    const int64_t o = o0 + ty + a * (kTileO / kPerO);
    if (o >= n_out) continue;
    const float bo = bias != nullptr ? bias[o] : 0.0f;
#pragma unroll
    for (int b = 0; b < kPerS; ++b) {
      const int64_t s = s0 + tx + b * (kTileS / kPerS);
      if (s >= S) continue;
      float z = acc[a][b];
      if (bias != nullptr) z = f_add(z, bo);
      if (ACT == kSigmoid) z = sigmoid_f32(z);
      else if (ACT == kTanh) z = tanh_f32(z);
      else if (ACT == kRelu) z = relu_f32(z);
      y[o * S + s] = z;
    }
  }
}

void sample_linear_layer_cuda(at::Tensor x_out, at::Tensor y_out, const at::Tensor& weight,
                              const c10::optional<at::Tensor>& bias, int64_t activation,
                              int64_t seed, int64_t sample_start, double lo, double hi) {
  const bool has_bias =
      check_sample_linear(x_out, y_out, weight, bias, activation, sample_start, kCUDA);
  check_same_device(x_out, y_out, "y_out");
  check_same_device(x_out, weight, "weight");
  if (has_bias) check_same_device(x_out, *bias, "bias");
  const int64_t n_in = x_out.size(0), S = x_out.size(1), n_out = y_out.size(0);
  at::Tensor bvec = has_bias ? bias->contiguous() : at::Tensor();
  if (S == 0) return;
  const c10::cuda::CUDAGuard guard(x_out.device());
  at::Tensor w = weight.contiguous();
  // The matmul kernel reads dense rows; outputs with other strides go through a copy.
  at::Tensor x = x_out.is_contiguous() ? x_out : at::empty(x_out.sizes(), x_out.options());
  at::Tensor y = y_out.is_contiguous() ? y_out : at::empty(y_out.sizes(), y_out.options());
  launch_philox(x, seed, sample_start, 0, lo, hi);
  if (n_out > 0) {
    const dim3 grid((unsigned)((S + kTileS - 1) / kTileS), (unsigned)((n_out + kTileO - 1) / kTileO));
    TORCH_CHECK(grid.y <= 65535, "sample_linear_layer_: too many outputs (", n_out, ")");
    const float* bp = has_bias ? bvec.data_ptr<float>() : nullptr;
    auto launch = [&](auto kernel) {
      kernel<<<grid, kLinearThreads, 0, current_stream()>>>(
          x.data_ptr<float>(), w.data_ptr<float>(), bp, y.data_ptr<float>(), n_in, n_out, S);
    };
    switch (activation) {
      case kSigmoid: launch(linear_act_kernel<kSigmoid>); break;
      case kTanh: launch(linear_act_kernel<kTanh>); break;
      case kRelu: launch(linear_act_kernel<kRelu>); break;
      default: launch(linear_act_kernel<kIdentity>); break;
    }
    DEI_CUDA_LAUNCH_CHECK();
  }
  if (!x.is_same(x_out)) x_out.copy_(x);
  if (!y.is_same(y_out)) y_out.copy_(y);
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("philox_uniform_", &deep_ei_fast::cuda::philox_uniform_cuda);
  m.impl("sample_linear_layer_", &deep_ei_fast::cuda::sample_linear_layer_cuda);
}
