// The host side of a vector_keys call, shared by the CPU and CUDA kernels: the checked index
// vectors and the two sides the kernels code and pack (vector_key_side.h). Host only.
#pragma once

#include <ATen/core/Tensor.h>

#include "op_checks.h"
#include "vector_key_side.h"

namespace deep_ei_fast {

struct VectorKeysCall {
  at::Tensor x, y;                 // contiguous values [n_in, S], [n_out, S]
  at::Tensor in_index, out_index;  // checked index vectors, on the values' device
  VectorKeySide in, out;           // x's fields from word 0, y's after x's words
  int64_t S, W;                    // samples, words per row
};

// After check_vector_keys. The index vectors may come from the host (the engine keeps them
// there): checked there, as on the CPU, then moved to the values' device (no copy on the CPU).
inline VectorKeysCall vector_keys_call(const at::Tensor& x, const at::Tensor& y, double in_lo,
                                       double in_hi, int64_t in_bins, double out_lo,
                                       double out_hi, int64_t out_bins, int64_t in_bits,
                                       int64_t out_bits, int64_t out_offset,
                                       const at::Tensor& in_index,
                                       const at::Tensor& out_index) {
  VectorKeysCall c;
  c.in_index = checked_index(in_index, x.size(0), "in_index").to(x.device());
  c.out_index = checked_index(out_index, y.size(0), "out_index").to(x.device());
  c.x = x.contiguous();
  c.y = y.contiguous();
  c.in = vector_key_side(c.x.data_ptr<float>(), x.size(0), in_lo, in_hi, in_bins,
                         c.in_index.data_ptr<int64_t>(), c.in_index.numel(), in_bits, 0, 0);
  c.out = vector_key_side(c.y.data_ptr<float>(), y.size(0), out_lo, out_hi, out_bins,
                          c.out_index.data_ptr<int64_t>(), c.out_index.numel(), out_bits,
                          out_offset, c.in.words);
  c.S = x.size(1);
  c.W = c.in.words + c.out.words;
  return c;
}

}  // namespace deep_ei_fast
