// Activations of sample_linear_layer_, written with plain float32 operations
// (no libm calls) so that a scalar loop, a SIMD loop and a CUDA thread all
// produce the same bits for the same input.
#pragma once

#include "common.h"

namespace deep_ei_fast {

enum Activation : int32_t {
  kIdentity = 0,
  kSigmoid = 1,
  kTanh = 2,
  kRelu = 3,
};

DEI_HD DEI_INLINE float floor_f32(float x) {
#ifdef __CUDA_ARCH__
  return floorf(x);
#else
  return __builtin_floorf(x);
#endif
}

// exp(x) in float32 (Cephes expf polynomial, ~1 ulp), including the
// overflow (-> +inf), gradual-underflow and NaN cases.
DEI_HD DEI_INLINE float exp_f32(float x) {
  const float kHi = 88.72283935546875f;
  const float kLo = -103.972076416015625f;
  float xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  xc = (xc == xc) ? xc : 0.0f;  // NaN handled at the end
  const float n = floor_f32(f_add(f_mul(xc, 1.44269504088896341f), 0.5f));
  float r = f_sub(xc, f_mul(n, 0.693359375f));
  r = f_sub(r, f_mul(n, -2.12194440e-4f));
  const float r2 = f_mul(r, r);
  float p = 1.9875691500e-4f;
  p = f_add(f_mul(p, r), 1.3981999507e-3f);
  p = f_add(f_mul(p, r), 8.3334519073e-3f);
  p = f_add(f_mul(p, r), 4.1665795894e-2f);
  p = f_add(f_mul(p, r), 1.6666665459e-1f);
  p = f_add(f_mul(p, r), 5.0000001201e-1f);
  p = f_add(f_add(f_mul(p, r2), r), 1.0f);
  const int32_t ni = (int32_t)n;        // in [-150, 128]
  const int32_t n1 = ni >> 1;           // in [-75, 64]
  const int32_t n2 = ni - n1;           // in [-75, 64]
  const float s1 = bits_to_float((uint32_t)(n1 + 127) << 23);
  const float s2 = bits_to_float((uint32_t)(n2 + 127) << 23);
  float res = f_mul(f_mul(p, s1), s2);
  res = x > kHi ? bits_to_float(0x7f800000u) : res;
  res = (x == x) ? res : x;
  return res;
}

DEI_HD DEI_INLINE float sigmoid_f32(float z) {
  return f_div(1.0f, f_add(1.0f, exp_f32(-z)));
}

// tanh (Cephes tanhf): odd polynomial for |z| < 0.625, else 1 - 2/(e^{2|z|}+1).
DEI_HD DEI_INLINE float tanh_f32(float z) {
  const float az = z < 0.0f ? -z : z;
  const float e = exp_f32(f_add(az, az));
  float big = f_sub(1.0f, f_div(2.0f, f_add(e, 1.0f)));
  big = z < 0.0f ? -big : big;
  const float z2 = f_mul(z, z);
  float p = -5.70498872745e-3f;
  p = f_add(f_mul(p, z2), 2.06390887954e-2f);
  p = f_sub(f_mul(p, z2), 5.37397155531e-2f);
  p = f_add(f_mul(p, z2), 1.33314422036e-1f);
  p = f_sub(f_mul(p, z2), 3.33332819422e-1f);
  const float small = f_add(f_mul(f_mul(p, z2), z), z);
  return az >= 0.625f ? big : small;
}

DEI_HD DEI_INLINE float relu_f32(float z) {
  // max(z, 0); NaN propagates like torch.relu.
  return z < 0.0f ? 0.0f : z;
}

DEI_HD DEI_INLINE float activate(int32_t act, float z) {
  switch (act) {
    case kSigmoid: return sigmoid_f32(z);
    case kTanh: return tanh_f32(z);
    case kRelu: return relu_f32(z);
    default: return z;
  }
}

}  // namespace deep_ei_fast
