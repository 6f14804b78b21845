// Schemas of the sampling ops (see OPS.md): philox_uniform_, sample_linear_layer_.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def(
      "philox_uniform_(Tensor(a!) out, int seed, int sample_start, int neuron_start, "
      "float lo, float hi) -> ()");
  m.def(
      "sample_linear_layer_(Tensor(a!) x_out, Tensor(b!) y_out, Tensor weight, "
      "Tensor? bias, int activation, int seed, int sample_start, float lo, float hi) -> ()");
}
