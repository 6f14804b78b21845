// Schemas of the pair-histogram ops (see OPS.md). Both compute the same counts;
// they differ only in the CUDA kernel behind them (shared-memory atomics vs the
// one-hot product on the tensor cores), so that the engine can pick per regime
// (deep_ei_fast/histogram_kernel.py) and the tests can compare them.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def("pair_histogram_accumulate_(Tensor(a!) counts, Tensor x_codes, Tensor y_codes) -> ()");
  m.def(
      "pair_histogram_onehot_accumulate_(Tensor(a!) counts, Tensor x_codes, Tensor y_codes) "
      "-> ()");
}
