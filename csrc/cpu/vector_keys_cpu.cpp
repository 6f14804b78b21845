// CPU kernel of vector_keys: per block of samples, the vector codes of every
// neuron decide which samples are kept (all input codes < in_bins, all output
// codes < out_bins); the kept samples' codes of the indexed neurons are packed
// into rows [X words | Y words]. Blocks are independent, and each kept sample's
// row position is its rank among kept samples, so the result does not depend on
// the thread count.
#include <torch/library.h>

#include <vector>

#include "cpu_common.h"
#include "deep_ei_fast/binning.h"

namespace deep_ei_fast {
namespace cpu {
namespace {

constexpr int64_t kBlock = 2048;

struct Side {
  const float* values;  // [n, S]
  int64_t n;
  float lo_f, width_f, bins_f;
  int32_t bins;
};

DEI_CLONES void codes_of_row(const float* __restrict v, int64_t count, float lo_f,
                             float width_f, float bins_f, int32_t* __restrict out) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) out[i] = vector_code(v[i], lo_f, width_f, bins_f);
}

// keep[i] = 0 when any code of the side's neurons is >= bins.
void filter_side(const Side& s, int64_t S, int64_t i0, int64_t count, int32_t* codes,
                 uint8_t* keep) {
  for (int64_t j = 0; j < s.n; ++j) {
    codes_of_row(s.values + j * S + i0, count, s.lo_f, s.width_f, s.bins_f, codes);
    for (int64_t i = 0; i < count; ++i) keep[i] &= (uint8_t)(codes[i] < s.bins);
  }
}

// ORs the fields of the indexed neurons into the kept samples' rows; returns
// how many fields fell outside [0, 2^bits).
int64_t pack_side(const Side& s, int64_t S, int64_t i0, int64_t count, const int64_t* index,
                  int64_t n_index, int64_t bits, int64_t offset, int64_t first_word,
                  const int64_t* row_of, int64_t W, int32_t* codes, uint64_t* out) {
  const int64_t per_word = 64 / bits;
  const int64_t limit = bits >= 63 ? INT64_MAX : ((int64_t)1 << bits);
  int64_t bad = 0;
  for (int64_t f = 0; f < n_index; ++f) {
    const int64_t j = index[f];
    codes_of_row(s.values + j * S + i0, count, s.lo_f, s.width_f, s.bins_f, codes);
    const int64_t word = first_word + f / per_word;
    const int shift = (int)((f % per_word) * bits);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t row = row_of[i];
      if (row < 0) continue;
      const int64_t field = (int64_t)codes[i] + offset;
      bad += (field < 0) | (field >= limit);
      out[row * W + word] |= (uint64_t)field << shift;
    }
  }
  return bad;
}

at::Tensor check_index(const at::Tensor& index, int64_t n, const char* name) {
  TORCH_CHECK(index.dim() == 1 && index.scalar_type() == at::kLong, name,
              " must be an int64 vector");
  at::Tensor c = index.contiguous().cpu();
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t k = 0; k < c.numel(); ++k)
    TORCH_CHECK(p[k] >= 0 && p[k] < n, name, "[", k, "] = ", p[k], " out of range for ", n,
                " neurons");
  return c;
}

at::Tensor vector_keys_cpu(const at::Tensor& x, const at::Tensor& y, double in_lo, double in_hi,
                           int64_t in_bins, double out_lo, double out_hi, int64_t out_bins,
                           int64_t in_bits, int64_t out_bits, int64_t out_offset,
                           const at::Tensor& in_index, const at::Tensor& out_index) {
  TORCH_CHECK(x.device().is_cpu() && y.device().is_cpu(), "CPU tensors expected");
  TORCH_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kFloat && x.dim() == 2 &&
                  y.dim() == 2 && x.size(1) == y.size(1),
              "x and y must be float32 [n_in, S] and [n_out, S]");
  TORCH_CHECK(in_bits >= 1 && in_bits <= 32 && out_bits >= 1 && out_bits <= 32,
              "bits must be in [1, 32]");
  const int64_t S = x.size(1);
  at::Tensor xi = check_index(in_index, x.size(0), "in_index");
  at::Tensor yi = check_index(out_index, y.size(0), "out_index");
  const int64_t Wx = std::max<int64_t>(1, (xi.numel() + 64 / in_bits - 1) / (64 / in_bits));
  const int64_t Wy = std::max<int64_t>(1, (yi.numel() + 64 / out_bits - 1) / (64 / out_bits));
  const int64_t W = Wx + Wy;
  at::Tensor xc = x.contiguous(), yc = y.contiguous();
  const Side in_side{xc.data_ptr<float>(), x.size(0), (float)in_lo, vector_width(in_lo, in_hi),
                     (float)in_bins, (int32_t)in_bins};
  const Side out_side{yc.data_ptr<float>(), y.size(0), (float)out_lo,
                      vector_width(out_lo, out_hi), (float)out_bins, (int32_t)out_bins};
  const int64_t nblocks = (S + kBlock - 1) / kBlock;
  std::vector<uint8_t> keep((size_t)S, 1);
  std::vector<int64_t> kept_before((size_t)nblocks + 1, 0);
  const int64_t work = kBlock * (in_side.n + out_side.n);
  // Pass 1: which samples are kept, and how many per block.
  at::parallel_for(0, nblocks, grain_for(nblocks, work), [&](int64_t b0, int64_t b1) {
    std::vector<int32_t> codes(kBlock);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock, count = std::min(kBlock, S - i0);
      filter_side(in_side, S, i0, count, codes.data(), keep.data() + i0);
      filter_side(out_side, S, i0, count, codes.data(), keep.data() + i0);
      int64_t k = 0;
      for (int64_t i = 0; i < count; ++i) k += keep[(size_t)(i0 + i)];
      kept_before[(size_t)b + 1] = k;
    }
  });
  for (int64_t b = 0; b < nblocks; ++b) kept_before[(size_t)b + 1] += kept_before[(size_t)b];
  at::Tensor out = at::zeros({kept_before[(size_t)nblocks], W}, x.options().dtype(at::kLong));
  uint64_t* op = reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>());
  // Pass 2: pack the kept samples' fields at their rank.
  const int64_t bad = at::parallel_reduce(
      0, nblocks, grain_for(nblocks, work), (int64_t)0,
      [&](int64_t b0, int64_t b1, int64_t acc) {
        std::vector<int32_t> codes(kBlock);
        std::vector<int64_t> row_of(kBlock);
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t i0 = b * kBlock, count = std::min(kBlock, S - i0);
          int64_t row = kept_before[(size_t)b];
          for (int64_t i = 0; i < count; ++i) row_of[i] = keep[(size_t)(i0 + i)] ? row++ : -1;
          acc += pack_side(in_side, S, i0, count, xi.data_ptr<int64_t>(), xi.numel(), in_bits, 0,
                           0, row_of.data(), W, codes.data(), op);
          acc += pack_side(out_side, S, i0, count, yi.data_ptr<int64_t>(), yi.numel(), out_bits,
                           out_offset, Wx, row_of.data(), W, codes.data(), op);
        }
        return acc;
      },
      [](int64_t a, int64_t b) { return a + b; });
  TORCH_CHECK(bad == 0, "vector_keys: ", bad, " codes do not fit their ", in_bits, "/", out_bits,
              "-bit fields");
  return out;
}

}  // namespace
}  // namespace cpu
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CPU, m) {
  m.impl("vector_keys", &deep_ei_fast::cpu::vector_keys_cpu);
}
