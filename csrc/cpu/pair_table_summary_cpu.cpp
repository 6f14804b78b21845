// CPU kernel of pair_table_summary: in one pass over each pair table, what the
// estimators need (plug-in MI, samples, occupied bins) and L at kept samples.
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "deep_ei_fast/op_checks.h"
#include "deep_ei_fast/pair_table_summary_call.h"
#include "pair_table_cpu.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

template <typename Count, typename Code>
void summarize(const at::Tensor& c, int64_t in_bins, const int32_t* obp, int64_t max_out,
               const at::Tensor& xc, const at::Tensor& yc, double* sp, float* lp) {
  const int64_t na = c.size(0), nb = c.size(1), RX = c.size(2), RY = c.size(3);
  const int64_t M = xc.size(1);
  const Count* cp = c.data_ptr<Count>();
  const Code* xp = xc.data_ptr<Code>();
  const Code* yp = yc.data_ptr<Code>();
  const std::vector<double> log_table = count_log_table(cp, c.numel());
  const CountLogs logs{log_table.data(), (int64_t)log_table.size()};
  const int64_t pairs = na * nb;
  at::parallel_for(0, pairs, grain_for(pairs, RX * RY + M), [&](int64_t p0, int64_t p1) {
    PairTable table(in_bins, max_out);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t a = p / nb, b = p % nb, ob = obp[b];
      const Count* tab = cp + p * RX * RY;
      double* s = sp + p * 5;
      s[0] = table.mi_bits(tab, in_bins, ob, RY, logs);
      int64_t rx = 0, ry = 0, rxy = 0;
      for (int64_t r = 0; r < in_bins; ++r) {
        if (table.pi[r] == 0) continue;
        ++rx;
        for (int64_t j = 0; j < ob; ++j) rxy += tab[r * RY + j] != 0;
      }
      for (int64_t j = 0; j < ob; ++j) ry += table.pj[j] != 0;
      s[1] = (double)table.total;
      s[2] = (double)rx;
      s[3] = (double)ry;
      s[4] = (double)rxy;
      // Codes as unsigned: negative int32 codes are out of range too.
      const Code* x = xp + a * M;
      const Code* y = yp + b * M;
      float* l = lp + p * M;
      for (int64_t m = 0; m < M; ++m) {
        const uint32_t i = (uint32_t)x[m], j = (uint32_t)y[m];
        const int64_t n = (i < (uint32_t)in_bins && j < (uint32_t)ob) ? (int64_t)tab[i * RY + j] : 0;
        l[m] = n > 0 ? log_ratio_bits(logs(n), table.log_total, table.log_pi[i], table.log_pj[j])
                     : 0.0f;
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> pair_table_summary_cpu(const at::Tensor& counts,
                                                          int64_t in_bins,
                                                          const at::Tensor& out_bins,
                                                          const at::Tensor& x_codes,
                                                          const at::Tensor& y_codes) {
  check_pair_table_summary(counts, in_bins, out_bins, x_codes, y_codes, c10::DeviceType::CPU);
  const int64_t na = counts.size(0), nb = counts.size(1), RY = counts.size(3);
  const auto [ob, max_out] = checked_out_bins(out_bins, RY);
  const int32_t* obp = ob.data_ptr<int32_t>();
  at::Tensor summary = at::empty({na, nb, 5}, counts.options().dtype(at::kDouble));
  at::Tensor log_ratios = at::empty({na, nb, x_codes.size(1)}, counts.options().dtype(at::kFloat));
  const at::Tensor c = counts.contiguous(), xc = x_codes.contiguous(), yc = y_codes.contiguous();
  double* sp = summary.data_ptr<double>();
  float* lp = log_ratios.data_ptr<float>();
  with_summary_types(c, xc, [&](auto count, auto code) {
    summarize<decltype(count), decltype(code)>(c, in_bins, obp, max_out, xc, yc, sp, lp);
  });
  return {summary, log_ratios};
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("pair_table_summary", &deep_ei_fast::cpu::pair_table_summary_cpu);
}
