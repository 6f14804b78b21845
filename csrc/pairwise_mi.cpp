// Schema of pairwise_mi (see OPS.md).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def("pairwise_mi(Tensor counts, int in_bins, Tensor out_bins) -> Tensor");
}
