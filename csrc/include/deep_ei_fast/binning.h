// The two binning rules of the engine.
#pragma once

#include "common.h"

namespace deep_ei_fast {

// Pairwise (fast_histogram) binning, float64, with the scale factor
// bins / (hi - lo) precomputed by the caller. `lo`, `hi` are the widened range.
// Returns drop_code when v is outside [lo, hi) (including +-inf and NaN).
DEI_HD DEI_INLINE int32_t pairwise_code_scaled(float value, double lo, double hi,
                                               double scale, int32_t bins,
                                               int32_t drop_code) {
  const double v = (double)value;
  if (!(v >= lo && v < hi)) return drop_code;
  int32_t c = (int32_t)d_mul(d_sub(v, lo), scale);
  if (c >= bins) c = bins - 1;
  if (c < 0) c = 0;
  return c;
}

// The same rule, the scale computed here.
DEI_HD DEI_INLINE int32_t pairwise_code(float value, double lo, double hi,
                                        int32_t bins, int32_t drop_code) {
  return pairwise_code_scaled(value, lo, hi, d_div((double)bins, d_sub(hi, lo)),
                              bins, drop_code);
}

// float32(hi - lo + 0.0001), the difference and sum computed in double first.
DEI_HD DEI_INLINE float vector_width(double lo, double hi) {
  return (float)d_add(d_sub(hi, lo), 0.0001);
}

// deep-ei's vector binning in float32: floorf(((v - lo_f) / width_f) * bins_f),
// INT32_MAX for a non-finite v (NaN, +inf, -inf) and for results >= 2^31 or NaN,
// INT32_MIN for a finite v whose result is < -2^31.
DEI_HD DEI_INLINE int32_t vector_code(float v, float lo_f, float width_f,
                                      float bins_f) {
  const float t = f_mul(f_div(f_sub(v, lo_f), width_f), bins_f);
#ifdef __CUDA_ARCH__
  const float f = floorf(t);
#else
  const float f = __builtin_floorf(t);
#endif
  // NaN / +inf / too large -> INT32_MAX; too small -> INT32_MIN for a finite v
  // (v - v == 0), INT32_MAX for v = -inf (v - v is NaN).
  if (!(f < 2147483648.0f)) return 2147483647;
  if (!(f >= -2147483648.0f)) return (v - v == 0.0f) ? (int32_t)(-2147483647 - 1)
                                                      : 2147483647;
  return (int32_t)f;
}

}  // namespace deep_ei_fast
