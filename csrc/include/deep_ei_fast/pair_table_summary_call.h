// The typed call of a pair_table_summary kernel, shared by the CPU and CUDA
// kernels (host only).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace deep_ei_fast {

// Calls f(Count{}, Code{}) with the count type (int32 / int64) and the code
// type (uint8 / int32) of checked pair_table_summary arguments.
template <typename F>
void with_summary_types(const at::Tensor& counts, const at::Tensor& x_codes, F&& f) {
  const bool wide = counts.scalar_type() == at::kLong, bytes = x_codes.scalar_type() == at::kByte;
  if (wide && bytes) f(int64_t{}, uint8_t{});
  else if (wide) f(int64_t{}, int32_t{});
  else if (bytes) f(int32_t{}, uint8_t{});
  else f(int32_t{}, int32_t{});
}

}  // namespace deep_ei_fast
