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

// term = (n/N) * (log(n) - log(N)) + (n/N) * ((-log(pi*pj) + log(N)) + log(N))
// with pi*pj an int64 product, and |term| < DBL_EPSILON flushed to 0.
// `log_total` = log(N).
DEI_HD DEI_INLINE double mi_cell_term(int64_t n, int64_t total, double log_total,
                                      int64_t pi, int64_t pj) {
  const double nm = d_div((double)n, (double)total);
  const double outer = (double)(pi * pj);
  const double log_outer = d_add(d_add(-DEI_LOG(outer), log_total), log_total);
  const double t = d_add(d_mul(nm, d_sub(DEI_LOG((double)n), log_total)),
                         d_mul(nm, log_outer));
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
