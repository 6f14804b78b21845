// CUDA kernel of vector_keys: per sample, every neuron's vector code decides
// whether the sample is kept (all input codes < in_bins, all output codes <
// out_bins); the indexed neurons' codes are packed into [X words | Y words];
// the kept samples' rows are compacted in sample order by an exclusive scan.
// Equal to the CPU kernel (the same binning.h codes, the same bit layout).
#include <cub/device/device_scan.cuh>
#include <torch/library.h>

#include "cuda_common.cuh"
#include "deep_ei_fast/binning.h"
#include "deep_ei_fast/op_checks.h"
#include "deep_ei_fast/vector_key_side.h"

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
      // A device index is range-checked by index_check_kernel, reported after the
      // launch: until then an out-of-range neuron must not be read (field 0).
      const int64_t j = s.index[f];
      const int64_t field = (j >= 0 && j < s.n) ? (int64_t)code_of(s, j, S, i) + s.offset : 0;
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

// Counts the entries of an index vector outside [0, n) (into *bad).
__global__ void index_check_kernel(const int64_t* __restrict index, int64_t m, int64_t n,
                                   unsigned long long* __restrict bad) {
  DEI_GRID_STRIDE(k, m) {
    if (index[k] < 0 || index[k] >= n) atomicAdd(bad, 1ull);
  }
}

// An index vector on x's device. From the host: checked there (as on the CPU) and
// copied. On the device (the engine keeps its index vectors there, made once per
// table): only its type is checked here; its values by index_check_kernel.
at::Tensor index_on(const at::Tensor& index, const at::Device& device, int64_t n,
                    const char* name) {
  if (!index.is_cuda()) return checked_index(index, n, name).to(device);
  TORCH_CHECK(index.dim() == 1 && index.scalar_type() == at::kLong, name,
              " must be an int64 vector");
  return index.to(device).contiguous();
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
  // Index vectors already on the device are checked with the call's one read-back (below):
  // no host copy and no extra sync per block. (The CPU kernel uses vector_keys_call.h.)
  at::Tensor xi = index_on(in_index, x.device(), x.size(0), "in_index");
  at::Tensor yi = index_on(out_index, y.device(), y.size(0), "out_index");
  at::Tensor xc = x.contiguous(), yc = y.contiguous();
  const VectorKeySide in_side = vector_key_side(xc.data_ptr<float>(), x.size(0), in_lo, in_hi,
                                                in_bins, xi.data_ptr<int64_t>(), xi.numel(),
                                                in_bits, 0, 0);
  const VectorKeySide out_side = vector_key_side(yc.data_ptr<float>(), y.size(0), out_lo, out_hi,
                                                 out_bins, yi.data_ptr<int64_t>(), yi.numel(),
                                                 out_bits, out_offset, in_side.words);
  const int64_t W = in_side.words + out_side.words;
  const auto lopt = x.options().dtype(at::kLong);
  if (S == 0) {  // no summary to read back: check device indices on the host
    checked_index(in_index, x.size(0), "in_index");
    checked_index(out_index, y.size(0), "out_index");
    return at::empty({0, W}, lopt);
  }
  const auto stream = current_stream();
  at::Tensor rows = at::empty({S, W}, lopt);
  at::Tensor keep = at::empty({S}, x.options().dtype(at::kInt));
  at::Tensor position = at::empty({S}, x.options().dtype(at::kInt));
  // bad[0]: fields outside their bits; bad[1]: index entries out of range.
  at::Tensor bad = at::zeros({2}, lopt);
  auto* bad_p = reinterpret_cast<unsigned long long*>(bad.data_ptr<int64_t>());
  const auto check_index = [&](const at::Tensor& index, int64_t n) {
    if (index.numel() == 0) return;
    index_check_kernel<<<blocks_for(index.numel(), kThreads), kThreads, 0, stream>>>(
        index.data_ptr<int64_t>(), index.numel(), n, bad_p + 1);
    DEI_CUDA_LAUNCH_CHECK();
  };
  check_index(xi, x.size(0));
  check_index(yi, y.size(0));
  uint64_t* rp = reinterpret_cast<uint64_t*>(rows.data_ptr<int64_t>());
  vector_keys_kernel<<<blocks_for(S, kThreads), kThreads, 0, stream>>>(
      in_side, out_side, S, W, rp, keep.data_ptr<int32_t>(), bad_p);
  DEI_CUDA_LAUNCH_CHECK();
  const int32_t* kp = keep.data_ptr<int32_t>();
  int32_t* pp = position.data_ptr<int32_t>();
  with_cub_temp(x.device(), [&](void* temp, size_t& bytes) {
    return cub::DeviceScan::ExclusiveSum(temp, bytes, kp, pp, (int)S, stream);
  });
  // One read-back: the numbers of bad fields, of bad index entries, of kept samples.
  at::Tensor summary =
      at::stack({bad[0], bad[1], (position[S - 1] + keep[S - 1]).to(at::kLong)}).cpu();
  const int64_t n_bad = summary[0].item<int64_t>(), n_bad_index = summary[1].item<int64_t>(),
                kept = summary[2].item<int64_t>();
  if (n_bad_index > 0) {  // the CPU kernel's message, from a host copy (an error path only)
    checked_index(in_index, x.size(0), "in_index");
    checked_index(out_index, y.size(0), "out_index");
    TORCH_CHECK(false, "vector_keys: ", n_bad_index, " index entries out of range");
  }
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
