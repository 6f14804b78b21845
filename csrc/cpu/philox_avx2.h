// Philox4x32-10 for 8 consecutive samples at once with AVX2 intrinsics.
//
// gcc vectorizes the portable loop of philox.h, but through 64-bit lanes and
// shuffles (~3.4 ns per 32-bit output here). AVX2 has no 32x32 -> high-32
// multiply; _mm256_mul_epu32 gives full 64-bit products of the even lanes, so
// the even and odd lanes are multiplied separately and their high and low
// halves blended back (~4x faster). Integer arithmetic only: the outputs are
// bit-identical to philox4x32_10(), which remains the scalar path and the
// definition (csrc/OPS.md).
#pragma once

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "deep_ei_fast/philox.h"

namespace deep_ei_fast {
namespace cpu {

#define DEI_AVX2 __attribute__((target("avx2")))

// (hi, lo) 32-bit halves of a * m for each of the 8 uint32 lanes of a.
DEI_AVX2 static inline void mul_hi_lo_8(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);                         // lanes 0,2,4,6
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1,3,5,7
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Outputs for the samples s_lo + i (i < count, no carry into s_hi), neuron
// group g; count must be a multiple of 8. Same as the scalar loop over i of
// philox4x32_10((s_lo + i, s_hi, g, 0), (k0, k1)).
DEI_AVX2 static inline void philox_block_avx2(uint32_t k0, uint32_t k1, uint32_t s_lo,
                                              uint32_t s_hi, uint32_t g, int64_t count,
                                              uint32_t* __restrict o0, uint32_t* __restrict o1,
                                              uint32_t* __restrict o2, uint32_t* __restrict o3) {
  const __m256i m0 = _mm256_set1_epi32((int)kPhiloxM0);
  const __m256i m1 = _mm256_set1_epi32((int)kPhiloxM1);
  __m256i key0[10], key1[10];
  for (int r = 0; r < 10; ++r) {
    key0[r] = _mm256_set1_epi32((int)(k0 + (uint32_t)r * kPhiloxW0));
    key1[r] = _mm256_set1_epi32((int)(k1 + (uint32_t)r * kPhiloxW1));
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t i = 0; i < count; i += 8) {
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(s_lo + (uint32_t)i)), lane);
    __m256i c1 = _mm256_set1_epi32((int)s_hi);
    __m256i c2 = _mm256_set1_epi32((int)g);
    __m256i c3 = _mm256_setzero_si256();
    for (int r = 0; r < 10; ++r) {
      __m256i hi0, lo0, hi1, lo1;
      mul_hi_lo_8(c0, m0, hi0, lo0);
      mul_hi_lo_8(c2, m1, hi1, lo1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), key0[r]);
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), key1[r]);
      c1 = lo1;
      c3 = lo0;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o0 + i), c0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o1 + i), c1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o2 + i), c2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o3 + i), c3);
  }
}

#undef DEI_AVX2

inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

}  // namespace cpu
}  // namespace deep_ei_fast

#define DEI_HAVE_PHILOX_AVX2 1
#endif
