// CPU kernel of vector_keys: per block of samples, every value is coded once;
// the codes decide which samples are kept (all input codes < in_bins, all
// output codes < out_bins) and the indexed neurons' codes are packed into rows
// [X words | Y words]; the kept samples' rows are returned in sample order.
// Blocks are independent, so the result does not depend on the thread count.
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "cpu_common.h"
#include "deep_ei_fast/binning.h"
#include "deep_ei_fast/op_checks.h"
#include "deep_ei_fast/vector_keys_call.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

constexpr int64_t kBlock = 512;

DEI_CLONES void codes_of_row(const float* __restrict v, int64_t count, float lo_f,
                             float width_f, float bins_f, int32_t* __restrict out) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = vector_code(v[i], lo_f, width_f, bins_f);
}

// Codes of every neuron of a side for one block (codes[j * kBlock + i]), and
// keep[i] = 0 when any of them is >= bins.
void code_side(const VectorKeySide& s, int64_t S, int64_t i0, int64_t count, int32_t* codes,
               uint8_t* keep) {
  for (int64_t j = 0; j < s.n; ++j) {
    int32_t* cj = codes + j * kBlock;
    codes_of_row(s.values + j * S + i0, count, s.lo_f, s.width_f, s.bins_f, cj);
    for (int64_t i = 0; i < count; ++i) keep[i] &= (uint8_t)(cj[i] < s.bins);
  }
}

// Writes the fields of the side's indexed neurons into the block's rows (every
// sample; dropped ones are removed afterwards), one word at a time: the word is
// built in a contiguous buffer (a vectorizable loop per field), then stored into
// the rows once. Any offset and bits. Returns how many kept samples' fields fall
// outside [0, 2^bits).
DEI_CLONES int64_t pack_side_64(const VectorKeySide& s, const int32_t* codes, int64_t count,
                                const uint8_t* keep, int64_t W, uint64_t* rows) {
  const int64_t* index = s.index;
  const int64_t n_index = s.n_index, bits = s.bits, offset = s.offset, words = s.words;
  const int64_t per_word = 64 / bits;
  const int64_t limit = bits >= 63 ? INT64_MAX : ((int64_t)1 << bits);
  const uint64_t mask = bits >= 64 ? ~0ull : (((uint64_t)1 << bits) - 1);
  alignas(64) uint64_t word[kBlock];
  int64_t bad = 0;
  for (int64_t w = 0; w < words; ++w) {
    for (int64_t i = 0; i < count; ++i) word[i] = 0;
    const int64_t f_end = std::min(n_index, (w + 1) * per_word);
    for (int64_t f = w * per_word; f < f_end; ++f) {
      const int32_t* __restrict cj = codes + index[f] * kBlock;
      const int shift = (int)((f % per_word) * bits);
#pragma omp simd reduction(+ : bad)
      for (int64_t i = 0; i < count; ++i) {
        const int64_t field = (int64_t)cj[i] + offset;
        bad += keep[i] & ((field < 0) | (field >= limit));
        word[i] |= ((uint64_t)field & mask) << shift;
      }
    }
    uint64_t* __restrict out = rows + s.first_word + w;
    for (int64_t i = 0; i < count; ++i) out[i * W] = word[i];
  }
  return bad;
}

// Whether pack_side_32 can pack the side: its fields are then 32-bit values of the codes
// (offset 0 and at most 31 bits: the code itself; offset 2^31 and 32 bits: the code with
// its sign bit flipped), the engine's two layouts.
bool fits_32_bit_lanes(const VectorKeySide& s) {
  return (s.offset == 0 && s.bits <= 31) || (s.offset == ((int64_t)1 << 31) && s.bits == 32);
}

// pack_side_64's words, built from 32-bit halves (twice the lanes of a vector): a field
// at bit `shift` goes into the low half, the high half, or both when it straddles bit 32.
// Returns whether any kept sample's field falls outside its bits; only then does the
// caller count them (pack_side_64).
DEI_CLONES bool pack_side_32(const VectorKeySide& s, const int32_t* codes, int64_t count,
                             const uint8_t* keep, int64_t W, uint64_t* rows) {
  const int64_t* index = s.index;
  const int64_t n_index = s.n_index, bits = s.bits, words = s.words;
  const int64_t per_word = 64 / bits;
  const uint32_t flip = s.offset == 0 ? 0u : 0x80000000u;        // + 2^31 on 32-bit fields
  const uint32_t over = bits >= 32 ? 0u : ~((1u << bits) - 1u);  // set bits: out of the field
  alignas(64) uint32_t lo[kBlock], hi[kBlock];
  uint32_t bad = 0;
  for (int64_t w = 0; w < words; ++w) {
    for (int64_t i = 0; i < count; ++i) lo[i] = hi[i] = 0;
    const int64_t f_end = std::min(n_index, (w + 1) * per_word);
    for (int64_t f = w * per_word; f < f_end; ++f) {
      const int32_t* __restrict cj = codes + index[f] * kBlock;
      const int shift = (int)((f % per_word) * bits);
      if (shift >= 32) {
#pragma omp simd reduction(| : bad)
        for (int64_t i = 0; i < count; ++i) {
          const uint32_t field = (uint32_t)cj[i] ^ flip;
          bad |= field & over & (0u - keep[i]);
          hi[i] |= field << (shift - 32);
        }
      } else if (shift + bits <= 32) {
#pragma omp simd reduction(| : bad)
        for (int64_t i = 0; i < count; ++i) {
          const uint32_t field = (uint32_t)cj[i] ^ flip;
          bad |= field & over & (0u - keep[i]);
          lo[i] |= field << shift;
        }
      } else {
#pragma omp simd reduction(| : bad)
        for (int64_t i = 0; i < count; ++i) {
          const uint32_t field = (uint32_t)cj[i] ^ flip;
          bad |= field & over & (0u - keep[i]);
          lo[i] |= field << shift;
          hi[i] |= field >> (32 - shift);
        }
      }
    }
    uint64_t* __restrict out = rows + s.first_word + w;
    for (int64_t i = 0; i < count; ++i) out[i * W] = (uint64_t)lo[i] | ((uint64_t)hi[i] << 32);
  }
  return bad != 0;
}

// Packs the side's fields into the block's rows; returns how many kept samples' fields
// fall outside [0, 2^bits).
int64_t pack_side(const VectorKeySide& s, const int32_t* codes, int64_t count,
                  const uint8_t* keep, int64_t W, uint64_t* rows) {
  if (fits_32_bit_lanes(s) && !pack_side_32(s, codes, count, keep, W, rows)) return 0;
  return pack_side_64(s, codes, count, keep, W, rows);
}

at::Tensor vector_keys_cpu(const at::Tensor& x, const at::Tensor& y, double in_lo, double in_hi,
                           int64_t in_bins, double out_lo, double out_hi, int64_t out_bins,
                           int64_t in_bits, int64_t out_bits, int64_t out_offset,
                           const at::Tensor& in_index, const at::Tensor& out_index) {
  check_vector_keys(x, y, in_bits, out_bits, c10::DeviceType::CPU);
  const VectorKeysCall call = vector_keys_call(x, y, in_lo, in_hi, in_bins, out_lo, out_hi,
                                               out_bins, in_bits, out_bits, out_offset,
                                               in_index, out_index);
  const VectorKeySide &in_side = call.in, &out_side = call.out;
  const int64_t S = call.S, W = call.W;
  const int64_t nblocks = (S + kBlock - 1) / kBlock;
  at::Tensor keep = at::ones({S}, x.options().dtype(at::kBool));
  uint8_t* kp = reinterpret_cast<uint8_t*>(keep.data_ptr<bool>());
  // Uninitialized: pack_side stores every word of every row.
  at::Tensor rows = at::empty({S, W}, x.options().dtype(at::kLong));
  uint64_t* rp = reinterpret_cast<uint64_t*>(rows.data_ptr<int64_t>());
  const int64_t n_all = in_side.n + out_side.n;
  // One pass: each value is coded once; the codes decide the filter and fill the fields.
  const int64_t bad = at::parallel_reduce(
      0, nblocks, grain_for(nblocks, kBlock * n_all), (int64_t)0,
      [&](int64_t b0, int64_t b1, int64_t acc) {
        std::vector<int32_t> codes((size_t)(n_all * kBlock));
        int32_t* in_codes = codes.data();
        int32_t* out_codes = codes.data() + in_side.n * kBlock;
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t i0 = b * kBlock, count = std::min(kBlock, S - i0);
          code_side(in_side, S, i0, count, in_codes, kp + i0);
          code_side(out_side, S, i0, count, out_codes, kp + i0);
          acc += pack_side(in_side, in_codes, count, kp + i0, W, rp + i0 * W);
          acc += pack_side(out_side, out_codes, count, kp + i0, W, rp + i0 * W);
        }
        return acc;
      },
      [](int64_t a, int64_t b) { return a + b; });
  TORCH_CHECK(bad == 0, "vector_keys: ", bad, " codes do not fit their ", in_bits, "/",
              out_bits, "-bit fields");
  // Rows of the kept samples, in sample order.
  return keep.all().item<bool>() ? rows : rows.index({keep});
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("vector_keys", &deep_ei_fast::cpu::vector_keys_cpu);
}
