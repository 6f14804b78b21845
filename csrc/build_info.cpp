// Ops that describe the build rather than compute (see OPS.md): build_info, activation_code.
// They take no tensors, so each has one device-independent kernel, registered with its schema.
#include <torch/library.h>

#include <string>
#include <tuple>

#include "deep_ei_fast/activation.h"

#ifdef DEI_WITH_CUDA
#include <cuda.h>  // CUDA_VERSION
#endif

namespace deep_ei_fast {
namespace {

// DEI_WITH_CUDA is defined by setup.py and CMakeLists.txt when csrc/cuda/*.cu are compiled in.
std::tuple<bool, std::string> build_info() {
#ifdef DEI_WITH_CUDA
#ifdef CUDA_VERSION
  return {true, std::to_string(CUDA_VERSION / 1000) + "." + std::to_string(CUDA_VERSION % 1000 / 10)};
#else
  return {true, std::string("unknown")};
#endif
#else
  return {false, std::string()};
#endif
}

// The Activation enum of activation.h by name, so that Python can check its IntEnum against it.
int64_t activation_code(const std::string& name) {
  if (name == "IDENTITY") return kIdentity;
  if (name == "SIGMOID") return kSigmoid;
  if (name == "TANH") return kTanh;
  if (name == "RELU") return kRelu;
  return -1;
}

}  // namespace
}  // namespace deep_ei_fast

TORCH_LIBRARY_FRAGMENT(deep_ei_fast, m) {
  m.def("build_info() -> (bool, str)", &deep_ei_fast::build_info);
  m.def("activation_code(str name) -> int", &deep_ei_fast::activation_code);
}
