// Schema of pair_histogram_accumulate_ (see OPS.md).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def("pair_histogram_accumulate_(Tensor(a!) counts, Tensor x_codes, Tensor y_codes) -> ()");
}
