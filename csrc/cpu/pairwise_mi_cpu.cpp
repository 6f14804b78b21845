// CPU kernel of pairwise_mi: sklearn-style plug-in MI (bits) of every pair table.
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <vector>

#include "deep_ei_fast/op_checks.h"
#include "pair_table_cpu.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

// Counts are int32 or int64 (tables of more than 2^31 - 1 samples); the terms
// are computed from the same doubles either way, so the MI does not depend on it.
template <typename Count>
at::Tensor pairwise_mi_typed(const at::Tensor& counts, int64_t in_bins,
                             const at::Tensor& out_bins) {
  const int64_t na = counts.size(0), nb = counts.size(1), RX = counts.size(2),
                RY = counts.size(3);
  const auto [ob, max_out] = checked_out_bins(out_bins, RY);
  const int32_t* obp = ob.data_ptr<int32_t>();
  at::Tensor c = counts.contiguous();
  const Count* cp = c.data_ptr<Count>();
  at::Tensor result = at::zeros({na, nb}, counts.options().dtype(at::kDouble));
  double* rp = result.data_ptr<double>();
  const int64_t pairs = na * nb;
  // log(k) for the small counts that fill most cells: one table per call.
  const std::vector<double> log_table = count_log_table(cp, c.numel());
  const CountLogs logs{log_table.data(), (int64_t)log_table.size()};
  at::parallel_for(0, pairs, grain_for(pairs, RX * RY), [&](int64_t p0, int64_t p1) {
    PairTable table(in_bins, max_out);
    for (int64_t p = p0; p < p1; ++p)
      rp[p] = table.mi_bits(cp + p * RX * RY, in_bins, obp[p % nb], RY, logs);
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
