// CUDA kernels of the vector-counting ops: vector_codes_, pack_code_rows,
// sort_unique_rows, prefix_counts, count_distinct_prefixes. Same results as the
// CPU kernels, exactly: the codes come from binning.h, the packing is a fixed bit
// layout, and the sort is a stable LSD sort of whole 64-bit words (CUB radix
// sort, least significant word first), so the unique rows come out in the same
// lexicographic unsigned order; the counts are integer sums (any order gives the
// same value).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <torch/library.h>

#include <vector>

#include "cuda_common.cuh"
#include "deep_ei_fast/binning.h"

namespace deep_ei_fast {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------- vector_codes_

__global__ void vector_codes_kernel(int32_t* __restrict codes, const float* __restrict v,
                                    int64_t N, float lo_f, float width_f, float bins_f) {
  DEI_GRID_STRIDE(t, N) codes[t] = vector_code(v[t], lo_f, width_f, bins_f);
}

void vector_codes_cuda(at::Tensor codes, const at::Tensor& values, double lo, double hi,
                       int64_t bins) {
  check_vector_codes(codes, values, kCUDA);
  check_same_device(values, codes, "codes");
  const int64_t N = values.numel();
  if (N == 0) return;
  const c10::cuda::CUDAGuard guard(values.device());
  at::Tensor v = values.contiguous();
  at::Tensor out = codes.is_contiguous() ? codes : at::empty(codes.sizes(), codes.options());
  vector_codes_kernel<<<blocks_for(N, kThreads), kThreads, 0, current_stream()>>>(
      out.data_ptr<int32_t>(), v.data_ptr<float>(), N, (float)lo, vector_width(lo, hi),
      (float)bins);
  DEI_CUDA_LAUNCH_CHECK();
  if (!out.is_same(codes)) codes.copy_(out);
}

// ---------------------------------------------------------------- pack_code_rows

// One thread per (sample, word): the word's fields, in order.
__global__ void pack_rows_kernel(uint64_t* __restrict out, const int32_t* __restrict codes,
                                 int64_t n, int64_t S, int64_t W, int64_t bits,
                                 int64_t offset) {
  const int64_t per_word = 64 / bits;
  DEI_GRID_STRIDE(t, S * W) {
    const int64_t i = t % S, w = t / S;  // consecutive threads: consecutive samples
    uint64_t word = 0;
    const int64_t j_end = min64(n, (w + 1) * per_word);
    for (int64_t j = w * per_word; j < j_end; ++j)
      word |= (uint64_t)((int64_t)codes[j * S + i] + offset) << ((j % per_word) * bits);
    out[i * W + w] = word;
  }
}

at::Tensor pack_code_rows_cuda(const at::Tensor& codes, int64_t bits, int64_t offset) {
  check_pack_code_rows(codes, bits, kCUDA);
  const int64_t n = codes.size(0), S = codes.size(1);
  const int64_t W = (n + 64 / bits - 1) / (64 / bits);
  const c10::cuda::CUDAGuard guard(codes.device());
  at::Tensor out = at::zeros({S, W}, codes.options().dtype(at::kLong));
  if (n == 0 || S == 0) return out;
  at::Tensor c = codes.contiguous();
  // Range check first (before writing anything), as on the CPU.
  const auto [lo, hi] = min_max(c);
  const int64_t limit = bits >= 63 ? INT64_MAX : ((int64_t)1 << bits);
  TORCH_CHECK(lo + offset >= 0 && hi + offset < limit, "pack_code_rows: codes + offset in [",
              lo + offset, ", ", hi + offset, "] do not all lie in [0, 2^", bits, ")");
  pack_rows_kernel<<<blocks_for(S * W, kThreads), kThreads, 0, current_stream()>>>(
      reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>()), c.data_ptr<int32_t>(), n, S, W,
      bits, offset);
  DEI_CUDA_LAUNCH_CHECK();
  return out;
}

// ---------------------------------------------------------------- sort_unique_rows

__global__ void gather_word_kernel(uint64_t* __restrict dst, const uint64_t* __restrict keys,
                                   const int32_t* __restrict perm, int64_t M, int64_t W,
                                   int64_t w) {
  DEI_GRID_STRIDE(i, M) dst[i] = keys[(int64_t)perm[i] * W + w];
}

__global__ void gather_rows_kernel(uint64_t* __restrict dst, const uint64_t* __restrict keys,
                                   const int32_t* __restrict perm, int64_t M, int64_t W) {
  DEI_GRID_STRIDE(t, M * W) dst[t] = keys[(int64_t)perm[t / W] * W + t % W];
}

// head[i] = 1 where row i starts a run of rows equal in their first `words` words.
__global__ void run_heads_kernel(int32_t* __restrict head, const uint64_t* __restrict rows,
                                 int64_t M, int64_t W, int64_t words) {
  DEI_GRID_STRIDE(i, M) {
    int32_t h = i == 0;
    for (int64_t w = 0; w < words && !h; ++w) h = rows[i * W + w] != rows[(i - 1) * W + w];
    head[i] = h;
  }
}

// Run r (= run_id[i] - 1) gets row i's weight; heads also copy their row out.
__global__ void run_sums_kernel(unsigned long long* __restrict sums,
                                uint64_t* __restrict unique_rows,
                                const int32_t* __restrict run_id, const int32_t* __restrict head,
                                const uint64_t* __restrict rows,
                                const int64_t* __restrict weights,
                                const int32_t* __restrict perm, int64_t M, int64_t W) {
  DEI_GRID_STRIDE(i, M) {
    const int64_t r = run_id[i] - 1;
    const int64_t wgt = weights == nullptr ? 1 : weights[perm == nullptr ? i : perm[i]];
    atomicAdd(sums + r, (unsigned long long)wgt);  // integer sums: order-independent
    if (unique_rows != nullptr && head[i])
      for (int64_t w = 0; w < W; ++w) unique_rows[r * W + w] = rows[i * W + w];
  }
}

// Runs of `rows` (sorted, [M, W]) equal in their first `words` words: returns
// (run_id [M] int32, 1-based, inclusive scan of the heads; the number of runs).
std::pair<at::Tensor, int64_t> runs(const at::Tensor& rows, int64_t words, at::Tensor& head) {
  const int64_t M = rows.size(0), W = rows.size(1);
  const auto opts = rows.options().dtype(at::kInt);
  head = at::empty({M}, opts);
  run_heads_kernel<<<blocks_for(M, kThreads), kThreads, 0, current_stream()>>>(
      head.data_ptr<int32_t>(), reinterpret_cast<const uint64_t*>(rows.data_ptr<int64_t>()), M,
      W, words);
  DEI_CUDA_LAUNCH_CHECK();
  at::Tensor run_id = at::empty({M}, opts);
  const int32_t* hp = head.data_ptr<int32_t>();
  int32_t* rp = run_id.data_ptr<int32_t>();
  with_cub_temp(rows.device(), [&](void* temp, size_t& bytes) {
    return cub::DeviceScan::InclusiveSum(temp, bytes, hp, rp, (int)M, current_stream());
  });
  return {run_id, read_scalar(run_id[M - 1])};
}

// The rows of `k` (contiguous [M, W], M <= INT32_MAX) in lexicographic unsigned order, and
// the permutation that sorts them: a stable LSD sort over whole words, the last (least
// significant) word first.
std::pair<at::Tensor, at::Tensor> sorted_rows(const at::Tensor& k) {
  const int64_t M = k.size(0), W = k.size(1);
  const auto stream = current_stream();
  const auto lopt = k.options();
  const uint64_t* kp = reinterpret_cast<const uint64_t*>(k.data_ptr<int64_t>());
  at::Tensor perm = at::arange(M, k.options().dtype(at::kInt));
  at::Tensor perm_out = at::empty_like(perm);
  at::Tensor word = at::empty({M}, lopt), word_out = at::empty({M}, lopt);
  for (int64_t w = W - 1; w >= 0; --w) {
    gather_word_kernel<<<blocks_for(M, kThreads), kThreads, 0, stream>>>(
        reinterpret_cast<uint64_t*>(word.data_ptr<int64_t>()), kp, perm.data_ptr<int32_t>(), M,
        W, w);
    DEI_CUDA_LAUNCH_CHECK();
    const uint64_t* win = reinterpret_cast<const uint64_t*>(word.data_ptr<int64_t>());
    uint64_t* wout = reinterpret_cast<uint64_t*>(word_out.data_ptr<int64_t>());
    const int32_t* pin = perm.data_ptr<int32_t>();
    int32_t* pout = perm_out.data_ptr<int32_t>();
    with_cub_temp(k.device(), [&](void* temp, size_t& bytes) {
      return cub::DeviceRadixSort::SortPairs(temp, bytes, win, wout, pin, pout, (int)M, 0, 64,
                                             stream);
    });
    std::swap(perm, perm_out);
  }
  at::Tensor sorted = at::empty({M, W}, lopt);
  gather_rows_kernel<<<blocks_for(M * W, kThreads), kThreads, 0, stream>>>(
      reinterpret_cast<uint64_t*>(sorted.data_ptr<int64_t>()), kp, perm.data_ptr<int32_t>(), M,
      W);
  DEI_CUDA_LAUNCH_CHECK();
  return {sorted, perm};
}

std::tuple<at::Tensor, at::Tensor> sort_unique_rows_cuda(
    const at::Tensor& keys, const c10::optional<at::Tensor>& weights) {
  const bool has_w = check_sort_unique_rows(keys, weights, kCUDA);
  if (has_w) check_same_device(keys, *weights, "weights");
  const int64_t M = keys.size(0), W = keys.size(1);
  TORCH_CHECK(M <= INT32_MAX, "sort_unique_rows: at most 2^31 - 1 rows on CUDA");
  at::Tensor wt = has_w ? weights->contiguous() : at::Tensor();
  const auto lopt = keys.options().dtype(at::kLong);
  if (M == 0) return std::make_tuple(at::empty({0, W}, lopt), at::empty({0}, lopt));
  const c10::cuda::CUDAGuard guard(keys.device());
  auto [sorted, perm] = sorted_rows(keys.contiguous());
  at::Tensor head;
  auto [run_id, U] = runs(sorted, W, head);
  at::Tensor uniq = at::empty({U, W}, lopt);
  at::Tensor counts = at::zeros({U}, lopt);
  run_sums_kernel<<<blocks_for(M, kThreads), kThreads, 0, current_stream()>>>(
      reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>()),
      reinterpret_cast<uint64_t*>(uniq.data_ptr<int64_t>()), run_id.data_ptr<int32_t>(),
      head.data_ptr<int32_t>(), reinterpret_cast<const uint64_t*>(sorted.data_ptr<int64_t>()),
      has_w ? wt.data_ptr<int64_t>() : nullptr, perm.data_ptr<int32_t>(), M, W);
  DEI_CUDA_LAUNCH_CHECK();
  return std::make_tuple(uniq, counts);
}

// ---------------------------------------------------------------- count_distinct_prefixes

// The blocks' prefixes, concatenated, sorted as sort_unique_rows sorts rows; the number of
// runs is the count (the CPU kernel hashes instead: the same integer).
int64_t count_distinct_prefixes_cuda(at::TensorList blocks, int64_t prefix_words) {
  check_count_distinct_prefixes(blocks, prefix_words, kCUDA);
  for (const at::Tensor& b : blocks) check_same_device(blocks[0], b, "blocks");
  int64_t M = 0;
  for (const at::Tensor& b : blocks) M += b.size(0);
  TORCH_CHECK(M <= INT32_MAX, "count_distinct_prefixes: at most 2^31 - 1 rows on CUDA");
  if (M == 0) return 0;
  if (prefix_words == 0) return 1;  // every row has the same (empty) prefix
  const c10::cuda::CUDAGuard guard(blocks[0].device());
  std::vector<at::Tensor> prefixes;
  for (const at::Tensor& b : blocks) prefixes.push_back(b.narrow(1, 0, prefix_words));
  at::Tensor sorted = sorted_rows(at::cat(prefixes).contiguous()).first;
  at::Tensor head;
  return runs(sorted, prefix_words, head).second;
}

// ---------------------------------------------------------------- prefix_counts

at::Tensor prefix_counts_cuda(const at::Tensor& unique, const at::Tensor& counts,
                              int64_t prefix_words) {
  check_prefix_counts(unique, counts, prefix_words, kCUDA);
  check_same_device(unique, counts, "counts");
  const int64_t U = unique.size(0), W = unique.size(1);
  TORCH_CHECK(U <= INT32_MAX, "prefix_counts: at most 2^31 - 1 rows on CUDA");
  if (U == 0) return at::empty({0}, counts.options());
  const c10::cuda::CUDAGuard guard(unique.device());
  at::Tensor u = unique.contiguous(), c = counts.contiguous();
  at::Tensor head;
  auto [run_id, P] = runs(u, prefix_words, head);
  at::Tensor out = at::zeros({P}, counts.options());
  run_sums_kernel<<<blocks_for(U, kThreads), kThreads, 0, current_stream()>>>(
      reinterpret_cast<unsigned long long*>(out.data_ptr<int64_t>()), nullptr,
      run_id.data_ptr<int32_t>(), head.data_ptr<int32_t>(),
      reinterpret_cast<const uint64_t*>(u.data_ptr<int64_t>()), c.data_ptr<int64_t>(), nullptr,
      U, W);
  DEI_CUDA_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("vector_codes_", &deep_ei_fast::cuda::vector_codes_cuda);
  m.impl("pack_code_rows", &deep_ei_fast::cuda::pack_code_rows_cuda);
  m.impl("sort_unique_rows", &deep_ei_fast::cuda::sort_unique_rows_cuda);
  m.impl("prefix_counts", &deep_ei_fast::cuda::prefix_counts_cuda);
  m.impl("count_distinct_prefixes", &deep_ei_fast::cuda::count_distinct_prefixes_cuda);
}
