// CPU kernels of philox_uniform_ and sample_linear_layer_.
//
// Work is split into blocks of kBlock consecutive samples; inside a block the
// loops run over samples (SIMD lanes = samples), and every lane performs the
// same sequence of float32 operations as a scalar evaluation would, so results
// never depend on the block split, vector width or number of threads.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>

#include "cpu_common.h"
#include "deep_ei_fast/activation.h"
#include "deep_ei_fast/op_checks.h"
#include "deep_ei_fast/philox.h"
#include "philox_avx2.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

constexpr int64_t kBlock = 256;

// Philox4x32-10 outputs for samples s0 .. s0+count-1 of neuron group g.
DEI_CLONES
void philox_block(uint64_t seed, uint64_t s0, uint32_t g, int64_t count,
                  uint32_t* __restrict o0, uint32_t* __restrict o1,
                  uint32_t* __restrict o2, uint32_t* __restrict o3) {
  const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  const uint32_t s0_lo = (uint32_t)s0;
  const uint32_t s0_hi = (uint32_t)(s0 >> 32);
  if ((uint64_t)s0_lo + (uint64_t)count <= 0x100000000ull) {
    // No carry into the high word inside the block: pure 32-bit lanes.
    int64_t done = 0;
#ifdef DEI_HAVE_PHILOX_AVX2
    if (cpu_has_avx2()) {
      done = count & ~(int64_t)7;
      philox_block_avx2(k0, k1, s0_lo, s0_hi, g, done, o0, o1, o2, o3);
    }
#endif
#pragma omp simd
    for (int64_t i = done; i < count; ++i) {
      uint32_t c0 = s0_lo + (uint32_t)i, c1 = s0_hi, c2 = g, c3 = 0u;
      philox4x32_10(c0, c1, c2, c3, k0, k1);
      o0[i] = c0; o1[i] = c1; o2[i] = c2; o3[i] = c3;
    }
  } else {
    for (int64_t i = 0; i < count; ++i) {
      const uint64_t s = s0 + (uint64_t)i;
      uint32_t c0 = (uint32_t)s, c1 = (uint32_t)(s >> 32), c2 = g, c3 = 0u;
      philox4x32_10(c0, c1, c2, c3, k0, k1);
      o0[i] = c0; o1[i] = c1; o2[i] = c2; o3[i] = c3;
    }
  }
}

DEI_CLONES
void map_uniform(const uint32_t* __restrict r, int64_t count, float range, float lo,
                 float* __restrict out) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = uniform_map(r[i], range, lo);
}

// Fills rows [0, n) (absolute neurons neuron_start + j) of a block of `count`
// samples starting at absolute sample s0; row j at out + j * row_stride.
void uniform_block(float* out, int64_t row_stride, int64_t n, uint64_t seed,
                   uint64_t s0, int64_t neuron_start, int64_t count, float range,
                   float lo) {
  alignas(64) uint32_t r[4][kBlock];
  int64_t j = 0;
  while (j < n) {
    const int64_t j_abs = neuron_start + j;
    const uint32_t g = (uint32_t)((uint64_t)j_abs >> 2);
    philox_block(seed, s0, g, count, r[0], r[1], r[2], r[3]);
    int64_t lane = j_abs & 3;
    for (; lane < 4 && j < n; ++lane, ++j) {
      map_uniform(r[lane], count, range, lo, out + j * row_stride);
    }
  }
}

// Whether the kernels can write t [n, S] in place: each row's samples consecutive
// (stride 1, or a single sample) and the rows apart (check_writable has refused
// tensors whose elements share memory; this repeats it for the layout used here).
bool rows_dense(const at::Tensor& t) {
  const int64_t n = t.size(0), S = t.size(1);
  if (n <= 1) return S <= 1 || t.stride(1) == 1;
  return (S <= 1 || t.stride(1) == 1) && t.stride(0) >= std::max<int64_t>(S, 1);
}

// The distance between rows of a rows_dense tensor (any positive value for one row).
int64_t row_step(const at::Tensor& t) { return std::max<int64_t>(1, t.stride(0)); }

void philox_uniform_cpu(at::Tensor out, int64_t seed, int64_t sample_start,
                        int64_t neuron_start, double lo, double hi) {
  check_sample_out(out, c10::DeviceType::CPU, "out");
  TORCH_CHECK(neuron_start >= 0, "neuron_start must be >= 0");
  TORCH_CHECK(sample_start >= 0, "sample_start must be >= 0");
  if (!rows_dense(out)) {
    at::Tensor tmp = at::empty(out.sizes(), out.options());
    philox_uniform_cpu(tmp, seed, sample_start, neuron_start, lo, hi);
    out.copy_(tmp);
    return;
  }
  const int64_t n = out.size(0), S = out.size(1);
  if (n == 0 || S == 0) return;
  const int64_t rs = row_step(out);
  float* base = out.data_ptr<float>();
  const float range = uniform_range(lo, hi);
  const float lo_f = (float)lo;
  const int64_t nblocks = (S + kBlock - 1) / kBlock;
  at::parallel_for(0, nblocks, grain_for(nblocks, kBlock * n), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock;
      const int64_t cnt = std::min(kBlock, S - i0);
      uniform_block(base + i0, rs, n, (uint64_t)seed, (uint64_t)sample_start + i0,
                    neuron_start, cnt, range, lo_f);
    }
  });
}

// y[i] = act(((x0[i]*w0 + x1[i]*w1) + ...) + bias) for one output neuron.
template <int ACT>
DEI_CLONES void linear_row(const float* __restrict x, int64_t x_stride, int64_t n_in,
                           const float* __restrict w, bool has_bias, float bias,
                           int64_t count, float* __restrict y) {
  alignas(64) float z[kBlock];
  if (n_in == 0) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) z[i] = 0.0f;
  } else {
    const float w0 = w[0];
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) z[i] = x[i] * w0;
    for (int64_t k = 1; k < n_in; ++k) {
      const float wk = w[k];
      const float* __restrict xk = x + k * x_stride;
#pragma omp simd
      for (int64_t i = 0; i < count; ++i) z[i] = z[i] + xk[i] * wk;
    }
  }
  if (has_bias) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) z[i] = z[i] + bias;
  }
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) {
    float v = z[i];
    if (ACT == kSigmoid) v = sigmoid_f32(v);
    else if (ACT == kTanh) v = tanh_f32(v);
    else if (ACT == kRelu) v = relu_f32(v);
    y[i] = v;
  }
}

void sample_linear_layer_cpu(at::Tensor x_out, at::Tensor y_out, const at::Tensor& weight,
                             const c10::optional<at::Tensor>& bias, int64_t activation,
                             int64_t seed, int64_t sample_start, double lo, double hi) {
  const bool has_bias = check_sample_linear(x_out, y_out, weight, bias, activation,
                                            sample_start, c10::DeviceType::CPU);
  const int64_t n_in = x_out.size(0), S = x_out.size(1), n_out = y_out.size(0);
  at::Tensor w = weight.contiguous();
  at::Tensor bvec = has_bias ? bias->contiguous() : at::Tensor();
  if (S == 0) return;
  at::Tensor x = rows_dense(x_out) ? x_out : at::empty(x_out.sizes(), x_out.options());
  at::Tensor y = rows_dense(y_out) ? y_out : at::empty(y_out.sizes(), y_out.options());
  float* xb = x.data_ptr<float>();
  float* yb = y.data_ptr<float>();
  const int64_t xs = row_step(x), ys = row_step(y);
  const float* wp = w.data_ptr<float>();
  const float* bp = has_bias ? bvec.data_ptr<float>() : nullptr;
  const float range = uniform_range(lo, hi);
  const float lo_f = (float)lo;
  const int64_t nblocks = (S + kBlock - 1) / kBlock;
  at::parallel_for(0, nblocks, grain_for(nblocks, kBlock * (n_in + n_in * n_out)), [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t i0 = blk * kBlock;
      const int64_t cnt = std::min(kBlock, S - i0);
      if (n_in > 0) {
        uniform_block(xb + i0, xs, n_in, (uint64_t)seed, (uint64_t)sample_start + i0, 0,
                      cnt, range, lo_f);
      }
      for (int64_t b = 0; b < n_out; ++b) {
        const float* wr = wp + b * n_in;
        const float bb = has_bias ? bp[b] : 0.0f;
        float* yr = yb + b * ys + i0;
        switch (activation) {
          case kSigmoid:
            linear_row<kSigmoid>(xb + i0, xs, n_in, wr, has_bias, bb, cnt, yr);
            break;
          case kTanh:
            linear_row<kTanh>(xb + i0, xs, n_in, wr, has_bias, bb, cnt, yr);
            break;
          case kRelu:
            linear_row<kRelu>(xb + i0, xs, n_in, wr, has_bias, bb, cnt, yr);
            break;
          default:
            linear_row<kIdentity>(xb + i0, xs, n_in, wr, has_bias, bb, cnt, yr);
        }
      }
    }
  });
  if (!x.is_same(x_out)) x_out.copy_(x);
  if (!y.is_same(y_out)) y_out.copy_(y);
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("philox_uniform_", &deep_ei_fast::cpu::philox_uniform_cpu);
  m.impl("sample_linear_layer_", &deep_ei_fast::cpu::sample_linear_layer_cpu);
}
