// Schema of pair_table_summary (see OPS.md).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "pair_table_summary(Tensor counts, int in_bins, Tensor out_bins, Tensor x_codes, "
      "Tensor y_codes) -> (Tensor, Tensor)");
}
