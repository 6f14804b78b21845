// One pair table's plug-in MI on the CPU, shared by the pairwise_mi and
// pair_table_summary kernels so that both give the same bits (host only).
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "cpu_common.h"
#include "deep_ei_fast/mutual_information.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {

constexpr int64_t kLogTable = 1 << 16;

// Small calls (sensitivity counts one input neuron at a time) need only a
// short table: filling all kLogTable entries would cost more than their MI.
constexpr int64_t kSmallCall = 1 << 22;

// log(k) of counts: below `size` from a table of the shared log_f64 (built once
// per call), above it computed; log 0 = 0, so empty cells contribute 0.
struct CountLogs {
  const double* table;
  int64_t size;
  double operator()(int64_t k) const { return (k >= 0 && k < size) ? table[k] : log_count(k); }
};

// The table behind a CountLogs: log_f64(k) for the counts below kLogTable (or
// below the call's largest count, for small calls). The shared log_f64 (not
// std::log) so that the CUDA kernels get the same bits.
template <typename Count>
std::vector<double> count_log_table(const Count* counts, int64_t numel) {
  int64_t size = kLogTable;
  if (numel <= kSmallCall) {
    int64_t largest = 0;
    for (int64_t i = 0; i < numel; ++i) largest = std::max<int64_t>(largest, counts[i]);
    size = std::min<int64_t>(kLogTable, largest + 1);
  }
  std::vector<double> table((size_t)size, 0.0);
  for (int64_t k = 1; k < size; ++k) table[(size_t)k] = log_f64((double)k);
  return table;
}

// out_bins on the CPU, checked against RY, and their largest value (1 when none).
inline std::pair<at::Tensor, int64_t> checked_out_bins(const at::Tensor& out_bins, int64_t RY) {
  at::Tensor ob = out_bins.contiguous().cpu();
  const int32_t* obp = ob.data_ptr<int32_t>();
  int64_t max_out = 1;
  for (int64_t b = 0; b < ob.numel(); ++b) {
    check_out_bins(obp[b], obp[b], RY);
    max_out = std::max<int64_t>(max_out, obp[b]);
  }
  return {ob, max_out};
}

// sum[k] += the term of cell k of a full chunk of kMiPartials columns.
template <typename Count>
DEI_CLONES void add_chunk(double* __restrict sum, const Count* __restrict row,
                          const double* __restrict log_pj, CountLogs logs, double log_total,
                          double lpi, double flush_below) {
  double log_n[kMiPartials];
  for (int k = 0; k < kMiPartials; ++k) log_n[k] = logs(row[k]);
#pragma omp simd
  for (int k = 0; k < kMiPartials; ++k)
    sum[k] += mi_cell_term_times_total((double)row[k], log_n[k], log_total, lpi, log_pj[k],
                                       flush_below);
}

// One thread's scratch: row / column sums of the table and their logs.
struct PairTable {
  std::vector<int64_t> pi, pj;
  std::vector<double> log_pi, log_pj;
  int64_t total = 0;
  double log_total = 0.0;

  PairTable(int64_t in_bins, int64_t max_out)
      : pi((size_t)in_bins), pj((size_t)max_out), log_pi((size_t)in_bins),
        log_pj((size_t)max_out) {}

  // The plug-in MI in bits of tab[:in_bins, :ob] (rows of RY counters), leaving
  // its sums and their logs here (only the sums when the MI is 0 by definition:
  // a single row or column, or no samples).
  template <typename Count>
  double mi_bits(const Count* tab, int64_t in_bins, int64_t ob, int64_t RY, CountLogs logs) {
    total = 0;
    for (int64_t j = 0; j < ob; ++j) pj[j] = 0;
    for (int64_t r = 0; r < in_bins; ++r) {
      int64_t rs = 0;
      const Count* row = tab + r * RY;
      for (int64_t j = 0; j < ob; ++j) {
        rs += row[j];
        pj[j] += row[j];
      }
      pi[r] = rs;
      total += rs;
    }
    for (int64_t r = 0; r < in_bins; ++r) log_pi[r] = logs(pi[r]);
    for (int64_t j = 0; j < ob; ++j) log_pj[j] = logs(pj[j]);
    log_total = logs(total);
    if (in_bins == 1 || ob == 1 || total == 0) return 0.0;
    const double dtotal = (double)total;
    const double flush_below = mi_flush_threshold(dtotal);
    // Branch-free over the cells (an empty cell's term is exactly 0); the fixed
    // order of mutual_information.h (kMiPartials partial sums, then a tree),
    // which the CUDA kernels' warp reduction reproduces.
    double sum[kMiPartials] = {};
    for (int64_t r = 0; r < in_bins; ++r) {
      if (pi[r] == 0) continue;
      const Count* row = tab + r * RY;
      const double lpi = log_pi[r];
      // Columns in chunks of kMiPartials: chunk k adds into sum[0..] in column
      // order, which is the order above (partial j % kMiPartials), written so
      // that the full chunks vectorize.
      int64_t j0 = 0;
      for (; j0 + kMiPartials <= ob; j0 += kMiPartials)
        add_chunk(sum, row + j0, log_pj.data() + j0, logs, log_total, lpi, flush_below);
      for (int64_t j = j0; j < ob; ++j) {
        const int64_t n = row[j];
        sum[j - j0] += mi_cell_term_times_total((double)n, logs(n), log_total, lpi, log_pj[j],
                                                flush_below);
      }
    }
    return mi_bits_from_sum(mi_combine_partials(sum), dtotal);
  }
};

}  // namespace cpu
}  // namespace deep_ei_fast
