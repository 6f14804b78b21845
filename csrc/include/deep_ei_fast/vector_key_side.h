// One side (inputs x or outputs y) of a vector_keys call, as the CPU and CUDA kernels both
// see it: how its values are coded (binning.h's vector_code) and where the fields of its
// indexed neurons go in a packed row (OPS.md, vector_keys).
#pragma once

#include "binning.h"
#include "common.h"

namespace deep_ei_fast {

// Words of a row that hold n_index fields of `bits` bits: at least one (an empty index packs
// one zero word, as the op's layout says).
DEI_HD DEI_INLINE int64_t packed_words(int64_t n_index, int64_t bits) {
  const int64_t per_word = 64 / bits;
  const int64_t words = (n_index + per_word - 1) / per_word;
  return words > 1 ? words : 1;
}

struct VectorKeySide {
  const float* values;  // [n, S]
  int64_t n;
  float lo_f, width_f, bins_f;    // vector_code's float32 range and bins
  int32_t bins;                   // a sample is kept when all n codes are < bins
  const int64_t* index;           // the packed neurons
  int64_t n_index, bits, offset;  // field = code + offset, `bits` wide
  int64_t first_word, words;      // the side's words in a row
};

// The side of `n` neurons `values` binned over [lo, hi) into `bins`, its neurons `index` packed
// from word `first_word` on. Host code: the range is converted to float32 here, once.
inline VectorKeySide vector_key_side(const float* values, int64_t n, double lo, double hi,
                                     int64_t bins, const int64_t* index, int64_t n_index,
                                     int64_t bits, int64_t offset, int64_t first_word) {
  return VectorKeySide{.values = values,
                       .n = n,
                       .lo_f = (float)lo,
                       .width_f = vector_width(lo, hi),
                       .bins_f = (float)bins,
                       .bins = (int32_t)bins,
                       .index = index,
                       .n_index = n_index,
                       .bits = bits,
                       .offset = offset,
                       .first_word = first_word,
                       .words = packed_words(n_index, bits)};
}

}  // namespace deep_ei_fast
