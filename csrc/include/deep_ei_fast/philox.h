// Philox4x32-10 (Random123) and the uniform float mapping used by the engine.
#pragma once

#include "common.h"

namespace deep_ei_fast {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

DEI_HD DEI_INLINE void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2,
                                    uint32_t& c3, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = (uint64_t)kPhiloxM0 * (uint64_t)c0;
  const uint64_t p1 = (uint64_t)kPhiloxM1 * (uint64_t)c2;
  const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  const uint32_t n0 = hi1 ^ c1 ^ k0;
  const uint32_t n2 = hi0 ^ c3 ^ k1;
  c0 = n0;
  c1 = lo1;
  c2 = n2;
  c3 = lo0;
}

// In place: (c0, c1, c2, c3) <- Philox4x32-10((c0, c1, c2, c3), (k0, k1)).
DEI_HD DEI_INLINE void philox4x32_10(uint32_t& c0, uint32_t& c1, uint32_t& c2,
                                     uint32_t& c3, uint32_t k0, uint32_t k1) {
#if defined(__CUDACC__)
#pragma unroll
#else
#pragma GCC unroll 10
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key is bumped between rounds
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    philox_round(c0, c1, c2, c3, k0, k1);
  }
}

// The four 32-bit outputs for absolute sample `s` and neuron group `g`
// (= j_abs >> 2): counter (lo32(s), hi32(s), g, 0), key (lo32(seed), hi32(seed)).
// Output r[j_abs & 3] belongs to neuron j_abs.
DEI_HD DEI_INLINE void philox_sample_group(uint64_t seed, uint64_t s, uint32_t g,
                                           uint32_t r[4]) {
  uint32_t c0 = (uint32_t)s, c1 = (uint32_t)(s >> 32), c2 = g, c3 = 0u;
  philox4x32_10(c0, c1, c2, c3, (uint32_t)seed, (uint32_t)(seed >> 32));
  r[0] = c0; r[1] = c1; r[2] = c2; r[3] = c3;
}

// u = (r >> 8) * 2^-24: exact float32 in [0, 1).
DEI_HD DEI_INLINE float philox_u01(uint32_t r) {
  return (float)(r >> 8) * 5.9604644775390625e-08f;
}

// float32(hi - lo) where hi - lo is computed in double first.
DEI_HD DEI_INLINE float uniform_range(double lo, double hi) {
  return (float)d_sub(hi, lo);
}

// value = float32(range * u) + float32(lo), each operation rounded in float32.
DEI_HD DEI_INLINE float uniform_map(uint32_t r, float range, float lo) {
  return f_add(f_mul(range, philox_u01(r)), lo);
}

}  // namespace deep_ei_fast
