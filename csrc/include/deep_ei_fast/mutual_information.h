// The per-cell mutual-information term of scikit-learn's mutual_info_score and
// numpy's pairwise summation (so that the sum matches numpy's `mi.sum()`).
#pragma once

#include "common.h"

#ifdef __CUDA_ARCH__
#define DEI_LOG(x) log(x)
#else
#include <math.h>
#define DEI_LOG(x) ::log(x)
#endif

namespace deep_ei_fast {

// The plug-in MI term of one cell, (n/N) * log(n N / (pi pj)), as
// (n/N) * ((log n - log pi) - (log pj - log N)), with |term| < DBL_EPSILON
// flushed to 0 as scikit-learn's mutual_info_score does. This grouping makes a
// constant row or column give exactly 0 (scikit-learn's grouping leaves ~1e-16
// terms); the value agrees with scikit-learn's to ~1e-15 relative. The logs come
// in precomputed, from a table: one log per count value, not per cell.
DEI_HD DEI_INLINE double mi_cell_term(double n, double total, double log_n, double log_total,
                                      double log_pi, double log_pj) {
  const double nm = d_div(n, total);
  const double t = d_mul(nm, d_sub(d_sub(log_n, log_pi), d_sub(log_pj, log_total)));
  const double at = t < 0.0 ? -t : t;
  return at < 2.220446049250313080847e-16 ? 0.0 : t;
}

// numpy's pairwise summation of a contiguous float64 array (add.reduce),
// reproduced operation for operation.
DEI_HD inline double numpy_pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double res = 0.0;
    for (int64_t i = 0; i < n; ++i) res = d_add(res, a[i]);
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] = d_add(r[j], a[i + j]);
    }
    double res = d_add(d_add(d_add(r[0], r[1]), d_add(r[2], r[3])),
                       d_add(d_add(r[4], r[5]), d_add(r[6], r[7])));
    for (; i < n; ++i) res = d_add(res, a[i]);
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return d_add(numpy_pairwise_sum(a, n2), numpy_pairwise_sum(a + n2, n - n2));
}

}  // namespace deep_ei_fast
