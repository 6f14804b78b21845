// Schema of pairwise_codes_ (see OPS.md). check_bins=False skips the checks on
// the bins' values (the engine's own bins; on CUDA they would cost a sync).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "pairwise_codes_(Tensor(a!) codes, Tensor values, Tensor lo, Tensor hi, "
      "Tensor bins, int drop_code, bool check_bins=True) -> ()");
}
