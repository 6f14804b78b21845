// Schemas of the vector-counting ops (see OPS.md): vector_codes_, pack_code_rows,
// sort_unique_rows, prefix_counts, count_distinct_prefixes.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def("vector_codes_(Tensor(a!) codes, Tensor values, float lo, float hi, int bins) -> ()");
  m.def("pack_code_rows(Tensor codes, int bits, int offset) -> Tensor");
  m.def("sort_unique_rows(Tensor keys, Tensor? weights) -> (Tensor, Tensor)");
  m.def("prefix_counts(Tensor unique, Tensor counts, int prefix_words) -> Tensor");
  m.def("count_distinct_prefixes(Tensor[] blocks, int prefix_words) -> int");
}
