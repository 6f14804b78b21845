// Schema of pairwise_codes_ (see OPS.md).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "pairwise_codes_(Tensor(a!) codes, Tensor values, Tensor lo, Tensor hi, "
      "Tensor bins, int drop_code) -> ()");
}
