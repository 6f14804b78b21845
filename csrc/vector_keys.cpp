// Schema of vector_keys (see OPS.md): vector codes, the whole-vector filter and
// the packing of (X, Y) code vectors into int64 keys, in one pass.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "vector_keys(Tensor x, Tensor y, float in_lo, float in_hi, int in_bins, float out_lo, "
      "float out_hi, int out_bins, int in_bits, int out_bits, int out_offset, Tensor in_index, "
      "Tensor out_index) -> Tensor");
}
