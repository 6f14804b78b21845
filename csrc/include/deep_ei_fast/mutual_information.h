// The plug-in mutual information (scikit-learn's mutual_info_score) of one
// contingency table, shared by the CPU and CUDA pairwise_mi kernels: the same
// log, the same per-cell term and the same summation tree on both devices, so
// that identical counts give bit-identical results.
#pragma once

#include "common.h"

namespace deep_ei_fast {

// Natural log of a finite x >= 1 (fdlibm's e_log.c, < 1 ulp), written with the
// no-FMA double operations of common.h. glibc's log and CUDA's log may round
// the last bit differently; this one gives the same bits on the host and in a
// CUDA thread. Only counts (integers >= 1) are passed here.
DEI_HD DEI_INLINE double log_f64(double x) {
  const double ln2_hi = 6.93147180369123816490e-01;
  const double ln2_lo = 1.90821492927058770002e-10;
  const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
               Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
               Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
               Lg7 = 1.479819860511658591e-01;
  const uint64_t u = double_bits(x);
  int32_t hx = (int32_t)(u >> 32);
  const uint32_t lx = (uint32_t)u;
  int32_t k = (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const int32_t i0 = (hx + 0x95f64) & 0x100000;
  // x (or x/2) normalized into [sqrt(2)/2, sqrt(2)).
  const double xn = bits_double(((uint64_t)(uint32_t)(hx | (i0 ^ 0x3ff00000)) << 32) | lx);
  k += (i0 >> 20);
  const double f = d_sub(xn, 1.0);
  const double dk = (double)k;
  if ((0x000fffff & (2 + hx)) < 3) {  // |f| < 2^-20
    if (f == 0.0) return k == 0 ? 0.0 : d_add(d_mul(dk, ln2_hi), d_mul(dk, ln2_lo));
    const double R = d_mul(d_mul(f, f), d_sub(0.5, d_mul(0.33333333333333333, f)));
    if (k == 0) return d_sub(f, R);
    return d_sub(d_mul(dk, ln2_hi), d_sub(d_sub(R, d_mul(dk, ln2_lo)), f));
  }
  const double s = d_div(f, d_add(2.0, f));
  const double z = d_mul(s, s);
  const double w = d_mul(z, z);
  const int32_t i = (hx - 0x6147a) | (0x6b851 - hx);
  const double t1 = d_mul(w, d_add(Lg2, d_mul(w, d_add(Lg4, d_mul(w, Lg6)))));
  const double t2 =
      d_mul(z, d_add(Lg1, d_mul(w, d_add(Lg3, d_mul(w, d_add(Lg5, d_mul(w, Lg7)))))));
  const double R = d_add(t2, t1);
  if (i > 0) {
    const double hfsq = d_mul(d_mul(0.5, f), f);
    if (k == 0) return d_sub(f, d_sub(hfsq, d_mul(s, d_add(hfsq, R))));
    return d_sub(d_mul(dk, ln2_hi),
                 d_sub(d_sub(hfsq, d_add(d_mul(s, d_add(hfsq, R)), d_mul(dk, ln2_lo))), f));
  }
  if (k == 0) return d_sub(f, d_mul(s, d_sub(f, R)));
  return d_sub(d_mul(dk, ln2_hi), d_sub(d_sub(d_mul(s, d_sub(f, R)), d_mul(dk, ln2_lo)), f));
}

// log(k) of a count, with log(0) taken as 0 so that an empty cell's term is 0.
DEI_HD DEI_INLINE double log_count(int64_t k) { return k <= 0 ? 0.0 : log_f64((double)k); }

// log(2), correctly rounded: the bits-per-nat divisor.
constexpr double kLn2 = 0.693147180559945309417232121458176568;

// The plug-in MI term of one cell, times the table total N:
// n * log(n N / (pi pj)) = n * ((log n - log pi) - (log pj - log N)).
// This grouping makes a constant row or column give exactly 0; the caller
// divides the sum by N once (so no division per cell). Terms whose value
// divided by N would be below DBL_EPSILON are flushed to 0, as scikit-learn's
// mutual_info_score flushes its terms. Values agree with scikit-learn's to
// ~1e-15 relative. The logs come in precomputed.
DEI_HD DEI_INLINE double mi_cell_term_times_total(double n, double log_n, double log_total,
                                                  double log_pi, double log_pj,
                                                  double flush_below) {
  const double t = d_mul(n, d_sub(d_sub(log_n, log_pi), d_sub(log_pj, log_total)));
  const double at = t < 0.0 ? -t : t;
  return at < flush_below ? 0.0 : t;
}

// DBL_EPSILON * N: the flush threshold of mi_cell_term_times_total.
DEI_HD DEI_INLINE double mi_flush_threshold(double total) {
  return d_mul(2.220446049250313080847e-16, total);
}

// The fixed summation order: kMiPartials partial sums, the terms of the cells of
// column j going to partial j % kMiPartials in row-major (row, column) order;
// the partials are then combined by the tree below (for off = 16, 8, 4, 2, 1:
// s[q] += s[q + off]), which is what a CUDA warp's xor-shuffle reduction
// computes in its lane 0. Result: max(sum / N, 0) / log(2) bits.
constexpr int kMiPartials = 32;

DEI_HD DEI_INLINE double mi_combine_partials(double* s) {
  for (int off = kMiPartials / 2; off > 0; off >>= 1)
    for (int q = 0; q < off; ++q) s[q] = d_add(s[q], s[q + off]);
  return s[0];
}

DEI_HD DEI_INLINE double mi_bits_from_sum(double sum_times_total, double total) {
  const double s = d_div(sum_times_total, total);
  return d_div(s > 0.0 ? s : 0.0, kLn2);
}

// L = log2(n N / (pi pj)) of a cell holding a sample (pair_table_summary):
// the sample's term of the plug-in MI, whose variance over samples gives the
// MI's delta-method standard error. The same grouping as the cell term.
DEI_HD DEI_INLINE float log_ratio_bits(double log_n, double log_total, double log_pi,
                                       double log_pj) {
  return (float)d_div(d_sub(d_sub(log_n, log_pi), d_sub(log_pj, log_total)), kLn2);
}

}  // namespace deep_ei_fast
