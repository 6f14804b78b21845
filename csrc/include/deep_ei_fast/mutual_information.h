// The per-cell term of the plug-in mutual information (scikit-learn's
// mutual_info_score), shared by the CPU and CUDA pairwise_mi kernels.
#pragma once

#include "common.h"

namespace deep_ei_fast {

// The plug-in MI term of one cell, times the table total N:
// n * log(n N / (pi pj)) = n * ((log n - log pi) - (log pj - log N)).
// This grouping makes a constant row or column give exactly 0; the caller
// divides the sum by N once (so no division per cell). Terms whose value
// divided by N would be below DBL_EPSILON are flushed to 0, as scikit-learn's
// mutual_info_score flushes its terms. Values agree with scikit-learn's to
// ~1e-15 relative. The logs come in precomputed, from a table of counts.
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

}  // namespace deep_ei_fast
