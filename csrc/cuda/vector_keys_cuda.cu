// CUDA kernel of vector_keys: per sample, every neuron's vector code decides
// whether the sample is kept (all input codes < in_bins, all output codes <
// out_bins); the indexed neurons' codes are packed into [X words | Y words];
// the kept samples' rows are compacted in sample order by an exclusive scan.
// Equal to the CPU kernel (the same binning.h codes, the same bit layout).
#include <cub/device/device_scan.cuh>
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/binning.h"
#include "deep_ei_fast/vector_keys_call.h"

namespace deep_ei_fast {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int32_t code_of(const VectorKeySide& s, int64_t j, int64_t S,
                                           int64_t i) {
  return vector_code(s.values[j * S + i], s.lo_f, s.width_f, s.bins_f);
}

// True when all of the side's codes of sample i are < bins.
__device__ __forceinline__ bool side_kept(const VectorKeySide& s, int64_t S, int64_t i) {
  for (int64_t j = 0; j < s.n; ++j)
    if (code_of(s, j, S, i) >= s.bins) return false;
  return true;
}

// Writes the side's words of row i; returns how many fields fall outside [0, 2^bits).
__device__ __forceinline__ int64_t pack_side(const VectorKeySide& s, int64_t S, int64_t i,
                                             int64_t W, uint64_t* __restrict rows) {
  const int64_t per_word = 64 / s.bits;
  const int64_t limit = s.bits >= 63 ? INT64_MAX : ((int64_t)1 << s.bits);
  const uint64_t mask = s.bits >= 64 ? ~0ull : (((uint64_t)1 << s.bits) - 1);
  int64_t bad = 0;
  for (int64_t w = 0; w < s.words; ++w) {
    uint64_t word = 0;
    const int64_t f_end = min64(s.n_index, (w + 1) * per_word);
    for (int64_t f = w * per_word; f < f_end; ++f) {
      const int64_t field = (int64_t)code_of(s, s.index[f], S, i) + s.offset;
      bad += (field < 0) | (field >= limit);
      word |= ((uint64_t)field & mask) << ((f % per_word) * s.bits);
    }
    rows[i * W + s.first_word + w] = word;
  }
  return bad;
}

__global__ void vector_keys_kernel(VectorKeySide in, VectorKeySide out, int64_t S, int64_t W,
                                   uint64_t* __restrict rows, int32_t* __restrict keep,
                                   unsigned long long* __restrict bad_total) {
  DEI_GRID_STRIDE(i, S) {
    const bool k = side_kept(in, S, i) && side_kept(out, S, i);
    keep[i] = k;
    if (!k) continue;
    const int64_t bad = pack_side(in, S, i, W, rows) + pack_side(out, S, i, W, rows);
    if (bad) atomicAdd(bad_total, (unsigned long long)bad);
  }
}

__global__ void compact_rows_kernel(uint64_t* __restrict dst, const uint64_t* __restrict rows,
                                    const int32_t* __restrict keep,
                                    const int32_t* __restrict position, int64_t S, int64_t W) {
  DEI_GRID_STRIDE(i, S) {
    if (!keep[i]) continue;
    for (int64_t w = 0; w < W; ++w) dst[(int64_t)position[i] * W + w] = rows[i * W + w];
  }
}

at::Tensor vector_keys_cuda(const at::Tensor& x, const at::Tensor& y, double in_lo,
                            double in_hi, int64_t in_bins, double out_lo, double out_hi,
                            int64_t out_bins, int64_t in_bits, int64_t out_bits,
                            int64_t out_offset, const at::Tensor& in_index,
                            const at::Tensor& out_index) {
  check_vector_keys(x, y, in_bits, out_bits, kCUDA);
  check_same_device(x, y, "y");
  const int64_t S = x.size(1);
  TORCH_CHECK(S <= INT32_MAX, "vector_keys: at most 2^31 - 1 samples per call on CUDA");
  const c10::cuda::CUDAGuard guard(x.device());
  const VectorKeysCall call = vector_keys_call(x, y, in_lo, in_hi, in_bins, out_lo, out_hi,
                                               out_bins, in_bits, out_bits, out_offset,
                                               in_index, out_index);
  const VectorKeySide &in_side = call.in, &out_side = call.out;
  const int64_t W = call.W;
  const auto lopt = x.options().dtype(at::kLong);
  if (S == 0) return at::empty({0, W}, lopt);
  const auto stream = current_stream();
  at::Tensor rows = at::empty({S, W}, lopt);
  at::Tensor keep = at::empty({S}, x.options().dtype(at::kInt));
  at::Tensor position = at::empty({S}, x.options().dtype(at::kInt));
  at::Tensor bad = at::zeros({1}, lopt);
  uint64_t* rp = reinterpret_cast<uint64_t*>(rows.data_ptr<int64_t>());
  vector_keys_kernel<<<blocks_for(S, kThreads), kThreads, 0, stream>>>(
      in_side, out_side, S, W, rp, keep.data_ptr<int32_t>(),
      reinterpret_cast<unsigned long long*>(bad.data_ptr<int64_t>()));
  DEI_CUDA_LAUNCH_CHECK();
  const int32_t* kp = keep.data_ptr<int32_t>();
  int32_t* pp = position.data_ptr<int32_t>();
  with_cub_temp(x.device(), [&](void* temp, size_t& bytes) {
    return cub::DeviceScan::ExclusiveSum(temp, bytes, kp, pp, (int)S, stream);
  });
  // One read-back: the number of bad fields and of kept samples.
  at::Tensor summary = at::stack({bad[0], (position[S - 1] + keep[S - 1]).to(at::kLong)}).cpu();
  const int64_t n_bad = summary[0].item<int64_t>(), kept = summary[1].item<int64_t>();
  TORCH_CHECK(n_bad == 0, "vector_keys: ", n_bad, " codes do not fit their ", in_bits, "/",
              out_bits, "-bit fields");
  if (kept == S) return rows;
  at::Tensor out = at::empty({kept, W}, lopt);
  if (kept > 0) {
    compact_rows_kernel<<<blocks_for(S, kThreads), kThreads, 0, stream>>>(
        reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>()), rp, kp, pp, S, W);
    DEI_CUDA_LAUNCH_CHECK();
  }
  return out;
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("vector_keys", &deep_ei_fast::cuda::vector_keys_cuda);
}
