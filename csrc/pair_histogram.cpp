// Schemas of the pair-histogram ops (see OPS.md). Both compute the same counts;
// they differ only in the CUDA kernel behind them (shared-memory atomics vs the
// one-hot product on the tensor cores), so that the engine can pick per regime
// (deep_ei_fast/engine/histogram_choice.py) and the tests can compare them.
// check_codes=False skips the range check of the codes: only for codes the
// engine built itself (pairwise_codes_ with drop code R - 1); on CUDA the check
// costs two synchronizations per call.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "pair_histogram_accumulate_(Tensor(a!) counts, Tensor x_codes, Tensor y_codes, "
      "bool check_codes=True) -> ()");
  m.def(
      "pair_histogram_onehot_accumulate_(Tensor(a!) counts, Tensor x_codes, Tensor y_codes, "
      "bool check_codes=True) -> ()");
}
