// CPU kernel of pairwise_mi: sklearn-style plug-in MI (bits) of every pair table.
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "cpu_common.h"
#include "deep_ei_fast/mutual_information.h"
#include "deep_ei_fast/op_checks.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

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

// Counts are int32 or int64 (tables of more than 2^31 - 1 samples); the terms
// are computed from the same doubles either way, so the MI does not depend on it.
template <typename Count>
at::Tensor pairwise_mi_typed(const at::Tensor& counts, int64_t in_bins,
                             const at::Tensor& out_bins) {
  const int64_t na = counts.size(0), nb = counts.size(1), RX = counts.size(2),
                RY = counts.size(3);
  at::Tensor ob = out_bins.contiguous().cpu();
  const int32_t* obp = ob.data_ptr<int32_t>();
  int64_t max_out = 1;
  for (int64_t b = 0; b < nb; ++b) {
    check_out_bins(obp[b], obp[b], RY);
    max_out = std::max<int64_t>(max_out, obp[b]);
  }
  at::Tensor c = counts.contiguous();
  const Count* cp = c.data_ptr<Count>();
  at::Tensor result = at::zeros({na, nb}, counts.options().dtype(at::kDouble));
  double* rp = result.data_ptr<double>();
  const int64_t pairs = na * nb;
  // log(k) for the small counts that fill most cells: one table per call
  // (log 0 is stored as 0, so empty cells contribute exactly 0 without a branch).
  // The shared log_f64 (not std::log) so that the CUDA kernel gets the same bits.
  int64_t table_size = kLogTable;
  if (c.numel() <= kSmallCall) {
    int64_t largest = 0;
    for (int64_t i = 0; i < c.numel(); ++i) largest = std::max<int64_t>(largest, cp[i]);
    table_size = std::min<int64_t>(kLogTable, largest + 1);
  }
  std::vector<double> log_table((size_t)table_size, 0.0);
  for (int64_t k = 1; k < table_size; ++k) log_table[(size_t)k] = log_f64((double)k);
  const CountLogs cached_log_count{log_table.data(), table_size};
  at::parallel_for(0, pairs, grain_for(pairs, RX * RY), [&](int64_t p0, int64_t p1) {
    std::vector<int64_t> pi((size_t)in_bins), pj((size_t)max_out);
    std::vector<double> log_pi((size_t)in_bins), log_pj((size_t)max_out);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p % nb;
      const int64_t ob_b = obp[b];
      if (in_bins == 1 || ob_b == 1) {
        rp[p] = 0.0;
        continue;
      }
      const Count* tab = cp + p * RX * RY;
      int64_t total = 0;
      for (int64_t j = 0; j < ob_b; ++j) pj[j] = 0;
      for (int64_t r = 0; r < in_bins; ++r) {
        int64_t rs = 0;
        const Count* row = tab + r * RY;
        for (int64_t j = 0; j < ob_b; ++j) {
          rs += row[j];
          pj[j] += row[j];
        }
        pi[r] = rs;
        total += rs;
      }
      if (total == 0) {
        rp[p] = 0.0;
        continue;
      }
      for (int64_t r = 0; r < in_bins; ++r) log_pi[r] = cached_log_count(pi[r]);
      for (int64_t j = 0; j < ob_b; ++j) log_pj[j] = cached_log_count(pj[j]);
      const double log_total = cached_log_count(total);
      const double dtotal = (double)total;
      const double flush_below = mi_flush_threshold(dtotal);
      // Branch-free over the cells (an empty cell's term is exactly 0); the
      // fixed order of mutual_information.h (kMiPartials partial sums, then a
      // tree), which the CUDA kernel's warp reduction reproduces.
      double sum[kMiPartials] = {};
      for (int64_t r = 0; r < in_bins; ++r) {
        if (pi[r] == 0) continue;
        const Count* row = tab + r * RY;
        const double lpi = log_pi[r];
        // Columns in chunks of kMiPartials: chunk k adds into sum[0..] in column
        // order, which is the order above (partial j % kMiPartials), written so
        // that the full chunks vectorize.
        int64_t j0 = 0;
        for (; j0 + kMiPartials <= ob_b; j0 += kMiPartials)
          add_chunk(sum, row + j0, log_pj.data() + j0, cached_log_count, log_total, lpi,
                    flush_below);
        for (int64_t j = j0; j < ob_b; ++j) {
          const int64_t n = row[j];
          sum[j - j0] += mi_cell_term_times_total((double)n, cached_log_count(n), log_total,
                                                  lpi, log_pj[j], flush_below);
        }
      }
      rp[p] = mi_bits_from_sum(mi_combine_partials(sum), dtotal);
    }
  });
  return result;
}

at::Tensor pairwise_mi_cpu(const at::Tensor& counts, int64_t in_bins,
                           const at::Tensor& out_bins) {
  check_pairwise_mi(counts, in_bins, out_bins, c10::DeviceType::CPU);
  return counts.scalar_type() == at::kLong ? pairwise_mi_typed<int64_t>(counts, in_bins, out_bins)
                                           : pairwise_mi_typed<int32_t>(counts, in_bins, out_bins);
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("pairwise_mi", &deep_ei_fast::cpu::pairwise_mi_cpu);
}
