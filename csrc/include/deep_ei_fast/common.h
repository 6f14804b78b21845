// Shared helpers for headers that compile both as host C++ and as CUDA
// __host__ __device__ code. No std:: containers, no exceptions here.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define DEI_HD __host__ __device__
#define DEI_INLINE __forceinline__
#else
#define DEI_HD
#define DEI_INLINE inline __attribute__((always_inline))
#endif

namespace deep_ei_fast {

// Bit casts between floats and their IEEE-754 encodings.
DEI_HD DEI_INLINE float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

DEI_HD DEI_INLINE uint64_t double_bits(double x) {
#ifdef __CUDA_ARCH__
  return (uint64_t)__double_as_longlong(x);
#else
  uint64_t u;
  __builtin_memcpy(&u, &x, sizeof(u));
  return u;
#endif
}

DEI_HD DEI_INLINE double bits_double(uint64_t u) {
#ifdef __CUDA_ARCH__
  return __longlong_as_double((long long)u);
#else
  double x;
  __builtin_memcpy(&x, &u, sizeof(x));
  return x;
#endif
}

// Correctly rounded single operations that are never contracted into FMAs.
// Host code is compiled with -ffp-contract=off; device code uses the _rn
// intrinsics, which nvcc never fuses.
DEI_HD DEI_INLINE float f_add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
DEI_HD DEI_INLINE float f_sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
DEI_HD DEI_INLINE float f_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
DEI_HD DEI_INLINE float f_div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
DEI_HD DEI_INLINE double d_add(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
DEI_HD DEI_INLINE double d_sub(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
DEI_HD DEI_INLINE double d_mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
DEI_HD DEI_INLINE double d_div(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

}  // namespace deep_ei_fast
