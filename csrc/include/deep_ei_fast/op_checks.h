// Argument checks of the ops (host only), shared by the CPU and CUDA kernels so
// that both devices accept and reject the same arguments with the same
// messages. `dev` is the device type every tensor argument must have.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

namespace deep_ei_fast {

inline void check_on(const at::Tensor& t, c10::DeviceType dev, const char* name) {
  TORCH_CHECK(t.device().type() == dev, name, " must be a ", c10::DeviceTypeName(dev, true),
              " tensor, got one on ", t.device());
}

// Whether two elements of `t` may share memory (as in an expanded tensor). Exact for up to
// two dimensions of more than one element; beyond that, true unless each stride passes the
// largest offset of the smaller ones (a layout no op writes: they are all 2-D).
inline bool may_share_elements(const at::Tensor& t) {
  if (t.numel() <= 1 || t.is_non_overlapping_and_dense()) return false;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of the dims that vary
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.size(d) > 1) dims.emplace_back(t.stride(d), t.size(d));
  std::sort(dims.begin(), dims.end());
  for (const auto& [stride, size] : dims)
    if (stride <= 0) return true;
  if (dims.size() == 2) {
    // i s0 + j s1 = i' s0 + j' s1 with (i, j) != (i', j') needs |i - i'| = s1 / g and
    // |j - j'| = s0 / g (g = gcd(s0, s1)) at the least: within the sizes, or nowhere.
    const auto [s0, n0] = dims[0];
    const auto [s1, n1] = dims[1];
    const int64_t g = std::gcd(s0, s1);
    return s1 / g < n0 && s0 / g < n1;
  }
  int64_t reach = 0;  // the largest offset of the smaller strides' dims
  for (const auto& [stride, size] : dims) {
    if (stride <= reach) return true;
    reach += stride * (size - 1);
  }
  return false;
}

// A tensor an op writes into: no two of its elements may share memory (the op would write
// one location several times, and an expanded view's neighbours past its one row).
inline void check_writable(const at::Tensor& t, const char* name) {
  TORCH_CHECK(!may_share_elements(t), name, " has elements that share memory (sizes ",
              t.sizes(), ", strides ", t.strides(),
              ": an expanded view?); an op cannot write into it: pass a tensor of its own, "
              "e.g. ", name, ".clone() or torch.empty(...)");
}

// [first, last] byte addresses of a tensor's elements (numel() > 0).
inline std::pair<uintptr_t, uintptr_t> byte_span(const at::Tensor& t) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(t.data_ptr());
  int64_t last = 0;
  for (int64_t d = 0; d < t.dim(); ++d) last += t.stride(d) * (t.size(d) - 1);
  return {first, first + (uintptr_t)(last * (int64_t)t.element_size()) + t.element_size() - 1};
}

// A tensor an op writes (`out`) and another argument must not share memory: reading one
// while writing the other would depend on the order of the kernel's loops. Refused whenever
// their spans of addresses meet (also interleaved views that would not collide).
inline void check_disjoint(const at::Tensor& out, const char* out_name, const at::Tensor& other,
                           const char* other_name) {
  if (!out.defined() || !other.defined() || out.numel() == 0 || other.numel() == 0 ||
      out.device() != other.device())
    return;  // nothing to share (a host index vector beside device values, say)
  const auto [a0, a1] = byte_span(out);
  const auto [b0, b1] = byte_span(other);
  TORCH_CHECK(a1 < b0 || b1 < a0, out_name, " and ", other_name,
              " share memory; an op cannot write one while it reads the other: pass separate "
              "tensors");
}

// philox_uniform_ / sample_linear_layer_ outputs: float32 [n, S].
inline void check_sample_out(const at::Tensor& t, c10::DeviceType dev, const char* name) {
  check_on(t, dev, name);
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32");
  TORCH_CHECK(t.dim() == 2, name, " must be 2-D [n, S]");
  check_writable(t, name);
}

// sample_linear_layer_: returns whether there is a bias.
inline bool check_sample_linear(const at::Tensor& x_out, const at::Tensor& y_out,
                                const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                int64_t activation, int64_t sample_start, c10::DeviceType dev) {
  check_sample_out(x_out, dev, "x_out");
  check_sample_out(y_out, dev, "y_out");
  TORCH_CHECK(sample_start >= 0, "sample_start must be >= 0");
  TORCH_CHECK(activation >= 0 && activation <= 3, "activation must be 0..3, got ", activation);
  check_on(weight, dev, "weight");
  TORCH_CHECK(weight.scalar_type() == at::kFloat && weight.dim() == 2,
              "weight must be a float32 tensor [n_out, n_in]");
  const int64_t n_in = x_out.size(0), S = x_out.size(1), n_out = y_out.size(0);
  TORCH_CHECK(y_out.size(1) == S, "x_out and y_out must have the same number of samples");
  TORCH_CHECK(weight.size(0) == n_out && weight.size(1) == n_in, "weight must be [", n_out,
              ", ", n_in, "], got ", weight.sizes());
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) {
    check_on(*bias, dev, "bias");
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->dim() == 1 && bias->size(0) == n_out,
                "bias must be a float32 tensor [n_out]");
  }
  check_disjoint(x_out, "x_out", y_out, "y_out");
  check_disjoint(x_out, "x_out", weight, "weight");
  check_disjoint(y_out, "y_out", weight, "weight");
  if (has_bias) {
    check_disjoint(x_out, "x_out", *bias, "bias");
    check_disjoint(y_out, "y_out", *bias, "bias");
  }
  return has_bias;
}

// pairwise_codes_: returns whether the codes are uint8 (else int32).
inline bool check_pairwise_codes(const at::Tensor& codes, const at::Tensor& values,
                                 const at::Tensor& lo, const at::Tensor& hi,
                                 const at::Tensor& bins, int64_t drop_code,
                                 c10::DeviceType dev) {
  check_on(codes, dev, "codes");
  check_on(values, dev, "values");
  TORCH_CHECK(values.scalar_type() == at::kFloat && values.dim() == 2,
              "values must be float32 [n, S]");
  TORCH_CHECK(codes.scalar_type() == at::kByte || codes.scalar_type() == at::kInt,
              "codes must be uint8 or int32");
  TORCH_CHECK(codes.sizes() == values.sizes(), "codes must have the shape of values");
  const int64_t n = values.size(0);
  TORCH_CHECK(lo.scalar_type() == at::kDouble && hi.scalar_type() == at::kDouble &&
                  lo.numel() == n && hi.numel() == n,
              "lo and hi must be float64 [n]");
  TORCH_CHECK(bins.scalar_type() == at::kInt && bins.numel() == n, "bins must be int32 [n]");
  const bool is_u8 = codes.scalar_type() == at::kByte;
  TORCH_CHECK(drop_code >= 0 && drop_code <= (is_u8 ? 255 : 2147483647),
              "drop_code out of range of the codes dtype");
  check_writable(codes, "codes");
  check_disjoint(codes, "codes", values, "values");
  check_disjoint(codes, "codes", lo, "lo");
  check_disjoint(codes, "codes", hi, "hi");
  check_disjoint(codes, "codes", bins, "bins");
  return is_u8;
}

// The range of the bins of pairwise_codes_ (their values, once known).
inline void check_code_bins(int64_t min_bins, int64_t max_bins, bool is_u8) {
  TORCH_CHECK(min_bins >= 1, "bins must be >= 1");
  if (is_u8) TORCH_CHECK(max_bins <= 256, "bins must be <= 256 for uint8 codes");
}

struct HistogramShape {
  int64_t na, nb, RX, RY, S;
};

// pair_histogram_accumulate_ / pair_histogram_onehot_accumulate_.
inline HistogramShape check_pair_histogram(const at::Tensor& counts, const at::Tensor& x,
                                           const at::Tensor& y, c10::DeviceType dev) {
  check_on(counts, dev, "counts");
  check_on(x, dev, "x_codes");
  check_on(y, dev, "y_codes");
  TORCH_CHECK(counts.scalar_type() == at::kInt && counts.dim() == 4 && counts.is_contiguous(),
              "counts must be a contiguous int32 [na, nb, RX, RY] tensor");
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2, "codes must be 2-D [n, S]");
  TORCH_CHECK(x.scalar_type() == y.scalar_type() &&
                  (x.scalar_type() == at::kByte || x.scalar_type() == at::kInt),
              "x_codes and y_codes must both be uint8 or both int32");
  HistogramShape s{counts.size(0), counts.size(1), counts.size(2), counts.size(3), x.size(1)};
  TORCH_CHECK(x.size(0) == s.na && y.size(0) == s.nb, "codes rows (", x.size(0), ", ",
              y.size(0), ") do not match counts [", s.na, ", ", s.nb, ", ...]");
  TORCH_CHECK(y.size(1) == s.S, "x_codes and y_codes must have the same samples");
  TORCH_CHECK(s.RX * s.RY <= ((int64_t)1 << 31) / 2, "histogram too large");
  check_disjoint(counts, "counts", x, "x_codes");
  check_disjoint(counts, "counts", y, "y_codes");
  return s;
}

// The codes' range (as unsigned: negative int32 codes are out of range) against R.
inline void check_code_range(int64_t min_code, int64_t max_code, int64_t R, const char* side) {
  TORCH_CHECK(min_code >= 0 && max_code < R, side, " code ", min_code < 0 ? min_code : max_code,
              " out of range (R", side, " = ", R, ")");
}

// pairwise_mi (shapes; the out_bins values are checked by check_out_bins).
inline void check_pairwise_mi(const at::Tensor& counts, int64_t in_bins,
                              const at::Tensor& out_bins, c10::DeviceType dev) {
  check_on(counts, dev, "counts");
  TORCH_CHECK((counts.scalar_type() == at::kInt || counts.scalar_type() == at::kLong) &&
                  counts.dim() == 4,
              "counts must be int32 or int64 [na, nb, RX, RY]");
  TORCH_CHECK(out_bins.scalar_type() == at::kInt && out_bins.dim() == 1 &&
                  out_bins.size(0) == counts.size(1),
              "out_bins must be int32 [nb]");
  TORCH_CHECK(in_bins >= 1 && in_bins <= counts.size(2), "in_bins must be in [1, RX]");
}

// pair_table_summary: pairwise_mi's arguments and the kept samples' codes
// (uint8 or int32 [na, M] / [nb, M]; any values: out-of-range codes read nothing).
inline void check_pair_table_summary(const at::Tensor& counts, int64_t in_bins,
                                     const at::Tensor& out_bins, const at::Tensor& x_codes,
                                     const at::Tensor& y_codes, c10::DeviceType dev) {
  check_pairwise_mi(counts, in_bins, out_bins, dev);
  check_on(x_codes, dev, "x_codes");
  check_on(y_codes, dev, "y_codes");
  TORCH_CHECK(x_codes.scalar_type() == y_codes.scalar_type() &&
                  (x_codes.scalar_type() == at::kByte || x_codes.scalar_type() == at::kInt),
              "x_codes and y_codes must both be uint8 or both int32");
  TORCH_CHECK(x_codes.dim() == 2 && y_codes.dim() == 2 && x_codes.size(0) == counts.size(0) &&
                  y_codes.size(0) == counts.size(1) && x_codes.size(1) == y_codes.size(1),
              "x_codes and y_codes must be [na, M] and [nb, M] for counts [na, nb, ...], got ",
              x_codes.sizes(), " and ", y_codes.sizes());
}

inline void check_out_bins(int64_t min_bins, int64_t max_bins, int64_t RY) {
  TORCH_CHECK(min_bins >= 1 && max_bins <= RY, "out_bins must be in [1, RY], got values in [",
              min_bins, ", ", max_bins, "]");
}

// vector_keys: the value tensors and the field widths.
inline void check_vector_keys(const at::Tensor& x, const at::Tensor& y, int64_t in_bits,
                              int64_t out_bits, c10::DeviceType dev) {
  check_on(x, dev, "x");
  check_on(y, dev, "y");
  TORCH_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kFloat && x.dim() == 2 &&
                  y.dim() == 2 && x.size(1) == y.size(1),
              "x and y must be float32 [n_in, S] and [n_out, S]");
  TORCH_CHECK(in_bits >= 1 && in_bits <= 32 && out_bits >= 1 && out_bits <= 32,
              "bits must be in [1, 32]");
}

// An index vector of vector_keys (on any device), checked against n neurons on
// the host; returns its contiguous host copy.
inline at::Tensor checked_index(const at::Tensor& index, int64_t n, const char* name) {
  TORCH_CHECK(index.dim() == 1 && index.scalar_type() == at::kLong, name,
              " must be an int64 vector");
  at::Tensor c = index.contiguous().cpu();
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t k = 0; k < c.numel(); ++k)
    TORCH_CHECK(p[k] >= 0 && p[k] < n, name, "[", k, "] = ", p[k], " out of range for ", n,
                " neurons");
  return c;
}

// vector_codes_.
inline void check_vector_codes(const at::Tensor& codes, const at::Tensor& values,
                               c10::DeviceType dev) {
  check_on(codes, dev, "codes");
  check_on(values, dev, "values");
  TORCH_CHECK(values.scalar_type() == at::kFloat, "values must be float32");
  TORCH_CHECK(codes.scalar_type() == at::kInt, "codes must be int32");
  TORCH_CHECK(codes.sizes() == values.sizes(), "codes must have the shape of values");
  check_writable(codes, "codes");
  check_disjoint(codes, "codes", values, "values");
}

// sort_unique_rows: returns whether there are weights.
inline bool check_sort_unique_rows(const at::Tensor& keys,
                                   const c10::optional<at::Tensor>& weights,
                                   c10::DeviceType dev) {
  check_on(keys, dev, "keys");
  TORCH_CHECK(keys.scalar_type() == at::kLong && keys.dim() == 2, "keys must be int64 [M, W]");
  const bool has_w = weights.has_value() && weights->defined();
  if (has_w) {
    check_on(*weights, dev, "weights");
    TORCH_CHECK(weights->scalar_type() == at::kLong && weights->dim() == 1 &&
                    weights->size(0) == keys.size(0),
                "weights must be int64 [M]");
  }
  return has_w;
}

// prefix_counts.
inline void check_prefix_counts(const at::Tensor& unique, const at::Tensor& counts,
                                int64_t prefix_words, c10::DeviceType dev) {
  check_on(unique, dev, "unique");
  check_on(counts, dev, "counts");
  TORCH_CHECK(unique.scalar_type() == at::kLong && unique.dim() == 2,
              "unique must be int64 [U, W]");
  TORCH_CHECK(counts.scalar_type() == at::kLong && counts.dim() == 1 &&
                  counts.size(0) == unique.size(0),
              "counts must be int64 [U]");
  TORCH_CHECK(prefix_words >= 0 && prefix_words <= unique.size(1),
              "prefix_words must be in [0, W]");
}

// count_distinct_prefixes: blocks of rows of the same width W.
inline void check_count_distinct_prefixes(at::TensorList blocks, int64_t prefix_words,
                                          c10::DeviceType dev) {
  TORCH_CHECK(!blocks.empty(), "blocks must hold at least one tensor");
  for (const at::Tensor& b : blocks) {
    check_on(b, dev, "blocks");
    TORCH_CHECK(b.scalar_type() == at::kLong && b.dim() == 2 && b.size(1) == blocks[0].size(1),
                "blocks must be int64 [M_k, W] with the same W");
  }
  TORCH_CHECK(prefix_words >= 0 && prefix_words <= blocks[0].size(1),
              "prefix_words must be in [0, W]");
}

// pack_code_rows (shapes; the codes' range is checked where they are).
inline void check_pack_code_rows(const at::Tensor& codes, int64_t bits, c10::DeviceType dev) {
  check_on(codes, dev, "codes");
  TORCH_CHECK(codes.scalar_type() == at::kInt && codes.dim() == 2, "codes must be int32 [n, S]");
  TORCH_CHECK(bits >= 1 && bits <= 64, "bits must be in [1, 64]");
}

}  // namespace deep_ei_fast
