// CUDA kernels of the pair histograms: counts[a, b, x[a, i], y[b, i]] += 1.
//
// pair_histogram_accumulate_ (kernel "a", shared-memory atomics): a block owns
// a tile of ta x tb pairs and keeps their histograms in shared memory as 16-bit
// counters (two per 32-bit word, incremented with a shifted 32-bit atomicAdd).
// Every sample adds exactly 1 to each pair's histogram, so no counter can pass
// 65535 before the block has seen 65535 samples: the block flushes its
// counters to the int32 `counts` (and clears them) every kFlushEvery samples.
// When one pair's 16-bit histogram does not fit in shared memory (more than
// ~340 bins a side), a plain global-atomic kernel counts instead.
//
// pair_histogram_onehot_accumulate_ (kernel "b", tensor cores): all pair
// histograms at once are the product C = A * B of the one-hot matrices
// A[(a, r), i] = [x_a(i) == r] and B[i, (b, c)] = [y_b(i) == c], with rows
// padded to multiples of 16 (padded rows and columns never match a code).
// int8 operands, int32 accumulators (WMMA m16n16k16, sm_72+): exact counts.
// A block computes a 128 x 128 tile of C over its range of samples, building
// the one-hot operands in shared memory from the codes; the epilogue adds the
// accumulators to `counts`. Its work grows as (bins + 1)^2 per pair-sample, the
// atomic kernel's as 1: see deep_ei_fast/engine/histogram_choice.py.
//
// Both check every code against RX / RY before anything is counted, as the CPU
// kernel does (four scalars come back to the host in one synchronization),
// unless check_codes=False (codes the engine built itself: no host round trip).
#include <mma.h>
#include <torch/library.h>

#include "cuda_common.cuh"

namespace deep_ei_fast {
namespace cuda {
namespace {

// ------------------------------------------------------------------ common

using Shape = HistogramShape;

Shape check_args(const at::Tensor& counts, const at::Tensor& x, const at::Tensor& y) {
  const Shape s = check_pair_histogram(counts, x, y, kCUDA);
  check_same_device(counts, x, "x_codes");
  check_same_device(counts, y, "y_codes");
  return s;
}

// Every code in [0, RX) / [0, RY), reduced on the device; both sides' min and
// max come back together (one synchronization). Codes are non-empty here.
void check_code_ranges(const at::Tensor& x, const at::Tensor& y, const Shape& s) {
  const auto [xlo, xhi] = at::aminmax(x);
  const auto [ylo, yhi] = at::aminmax(y);
  const at::Tensor ends =
      at::stack({xlo.to(at::kLong), xhi.to(at::kLong), ylo.to(at::kLong), yhi.to(at::kLong)})
          .cpu();
  const int64_t* e = ends.data_ptr<int64_t>();
  check_code_range(e[0], e[1], s.RX, "x");
  check_code_range(e[2], e[3], s.RY, "y");
}

// Splits of the samples so that there are about 4 blocks per SM, each with at
// least kMinSamplesPerBlock samples.
constexpr int64_t kMinSamplesPerBlock = 4096;

int64_t sample_splits(int64_t tiles, int64_t S) {
  const int64_t want = 4LL * multiprocessor_count();
  int64_t splits = (want + tiles - 1) / tiles;
  splits = std::min<int64_t>(splits, (S + kMinSamplesPerBlock - 1) / kMinSamplesPerBlock);
  return std::max<int64_t>(1, std::min<int64_t>(splits, 65535));
}

// Adds v to a counter: plainly when the block is its only writer in this
// launch (no sample splits), atomically otherwise.
__device__ __forceinline__ void add_count(int32_t* p, int32_t v, bool exclusive) {
  if (exclusive) *p += v;
  else atomicAdd(p, v);
}

// ------------------------------------------------- (a) shared-memory atomics

constexpr int kSmemThreads = 1024;
constexpr int kMaxTileB = 8;             // y codes of a sample kept in registers
constexpr int64_t kFlushEvery = 65535;   // 16-bit counters cannot overflow before this

// Shared counters: pair p = pa * tb + pb, cell = x * RY + y, 16-bit counter
// index p * cells + cell, in word index / 2 at bit 16 * (index % 2).
template <typename code_t>
__global__ void __launch_bounds__(kSmemThreads)
    hist_smem_kernel(int32_t* __restrict counts, const code_t* __restrict x,
                     const code_t* __restrict y, int64_t S, int64_t na, int64_t nb, int32_t RY,
                     int32_t cells, int32_t ta, int32_t tb, int64_t tiles_a,
                     int64_t samples_per_split, int32_t words) {
  extern __shared__ uint32_t hist[];
  const int64_t tile = blockIdx.x;
  const int64_t a0 = (tile % tiles_a) * ta, b0 = (tile / tiles_a) * tb;
  const int32_t ta_here = (int32_t)min64(ta, na - a0);
  const int32_t tb_here = (int32_t)min64(tb, nb - b0);
  const int64_t s_begin = (int64_t)blockIdx.y * samples_per_split;
  const int64_t s_end = min64(S, s_begin + samples_per_split);
  const bool exclusive = gridDim.y == 1;
  const int32_t pair_stride = tb * cells;  // counters of one x neuron's row of pairs

  for (int w = threadIdx.x; w < words; w += blockDim.x) hist[w] = 0u;
  __syncthreads();
  for (int64_t c0 = s_begin; c0 < s_end; c0 += kFlushEvery) {
    const int64_t c1 = min64(s_end, c0 + kFlushEvery);
    for (int64_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) {
      int32_t yc[kMaxTileB];  // indexed by unrolled constants only: stays in registers
#pragma unroll
      for (int pb = 0; pb < kMaxTileB; ++pb)
        yc[pb] = pb < tb_here ? pb * cells + (int32_t)y[(b0 + pb) * S + i] : 0;
      for (int32_t pa = 0; pa < ta_here; ++pa) {
        const int32_t base = pa * pair_stride + (int32_t)x[(a0 + pa) * S + i] * RY;
#pragma unroll
        for (int pb = 0; pb < kMaxTileB; ++pb) {
          if (pb < tb_here) {
            const int32_t idx = base + yc[pb];
            atomicAdd(&hist[idx >> 1], 1u << ((idx & 1) << 4));
          }
        }
      }
    }
    __syncthreads();
    // Flush the nonzero counters and clear them for the next chunk.
    for (int w = threadIdx.x; w < words; w += blockDim.x) {
      const uint32_t v = hist[w];
      if (v == 0u) continue;
      hist[w] = 0u;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int32_t c = (int32_t)((v >> (16 * h)) & 0xffffu);
        if (c == 0) continue;
        const int32_t idx = 2 * w + h;
        const int32_t p = idx / cells, cell = idx - p * cells;
        const int64_t a = a0 + p / tb, b = b0 + p % tb;
        add_count(counts + (a * nb + b) * cells + cell, c, exclusive);
      }
    }
    __syncthreads();
  }
}

// Fallback for histograms too large for shared memory: one global atomic per
// (pair, sample).
template <typename code_t>
__global__ void hist_global_kernel(int32_t* __restrict counts, const code_t* __restrict x,
                                   const code_t* __restrict y, int64_t S, int64_t na,
                                   int64_t nb, int64_t RY, int64_t cells) {
  DEI_GRID_STRIDE(t, na * nb * S) {
    const int64_t i = t % S, p = t / S;
    const int64_t a = p / nb, b = p % nb;
    atomicAdd(counts + p * cells + (int64_t)x[a * S + i] * RY + (int64_t)y[b * S + i], 1);
  }
}

template <typename code_t>
void launch_smem(at::Tensor& counts, const at::Tensor& x, const at::Tensor& y, const Shape& s) {
  const int64_t cells = s.RX * s.RY;
  // Leave 1 KiB of the opt-in limit for the runtime's per-block reservation.
  const int64_t smem_limit = (int64_t)max_shared_bytes_optin() - 1024;
  const int64_t max_pairs = smem_limit / (2 * cells);
  if (max_pairs < 1) {
    const int threads = 256;
    hist_global_kernel<code_t><<<blocks_for(s.na * s.nb * s.S, threads), threads, 0,
                                 current_stream()>>>(counts.data_ptr<int32_t>(),
                                                     x.data_ptr<code_t>(), y.data_ptr<code_t>(),
                                                     s.S, s.na, s.nb, s.RY, cells);
    DEI_CUDA_LAUNCH_CHECK();
    return;
  }
  const int64_t tb = std::min<int64_t>({(int64_t)kMaxTileB, s.nb, max_pairs});
  const int64_t ta = std::min<int64_t>(s.na, max_pairs / tb);
  const int64_t tiles_a = (s.na + ta - 1) / ta, tiles_b = (s.nb + tb - 1) / tb;
  const int64_t tiles = tiles_a * tiles_b;
  TORCH_CHECK(tiles <= 0x7fffffffLL, "pair_histogram_accumulate_: too many pair tiles");
  const int64_t splits = sample_splits(tiles, s.S);
  const int64_t per_split = (s.S + splits - 1) / splits;
  const int32_t words = (int32_t)((ta * tb * cells + 1) / 2);
  const int smem = words * 4;
  auto kernel = hist_smem_kernel<code_t>;
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const dim3 grid((unsigned)tiles, (unsigned)splits);
  kernel<<<grid, kSmemThreads, smem, current_stream()>>>(
      counts.data_ptr<int32_t>(), x.data_ptr<code_t>(), y.data_ptr<code_t>(), s.S, s.na, s.nb,
      (int32_t)s.RY, (int32_t)cells, (int32_t)ta, (int32_t)tb, tiles_a, per_split, words);
  DEI_CUDA_LAUNCH_CHECK();
}

void pair_histogram_accumulate_cuda(at::Tensor counts, const at::Tensor& x_codes,
                                    const at::Tensor& y_codes, bool check_codes) {
  const Shape s = check_args(counts, x_codes, y_codes);
  if (s.na == 0 || s.nb == 0 || s.S == 0) return;
  const c10::cuda::CUDAGuard guard(counts.device());
  at::Tensor x = x_codes.contiguous(), y = y_codes.contiguous();
  if (check_codes) check_code_ranges(x, y, s);
  if (x.scalar_type() == at::kByte) launch_smem<uint8_t>(counts, x, y, s);
  else launch_smem<int32_t>(counts, x, y, s);
}

// --------------------------------------------- (b) one-hot on the tensor cores

namespace wmma = nvcuda::wmma;

constexpr int kTile = 128;                    // rows and columns of C per block
constexpr int kKSteps = 2;                    // 16-sample MMA steps per stage
constexpr int kStage = 16 * kKSteps;          // samples per shared-memory stage
constexpr int kOnehotWarps = 8;               // 4 (rows) x 2 (columns)
constexpr int kOnehotThreads = 32 * kOnehotWarps;
constexpr int kWarpRows = 2, kWarpCols = 4;   // 16 x 16 fragments per warp: 32 x 64 of C
constexpr int kMaxNeurons = kTile / 16 + 1;   // neurons a 128-row tile can touch
constexpr int kWordsPerPlane = kTile * 16 / 4;  // one 16-sample plane of an operand, as words
constexpr int kBuildPerThread = kWordsPerPlane * kKSteps / kOnehotThreads;  // 4
static_assert(kBuildPerThread * kOnehotThreads == kWordsPerPlane * kKSteps, "even build split");

struct OnehotSmem {
  // One-hot operands: plane k of A holds rows x 16 samples (row-major), plane k
  // of B^T holds columns x 16 samples (B read as column-major).
  alignas(32) int8_t a[kKSteps][kTile * 16];
  alignas(32) int8_t b[kKSteps][kTile * 16];
  int32_t xcodes[kMaxNeurons][kStage];
  int32_t ycodes[kMaxNeurons][kStage];
  alignas(32) int32_t stage[kOnehotWarps][16 * 16];  // epilogue staging
};

// Codes of the neurons first .. first + kMaxNeurons - 1 for one stage of
// samples (rows of S samples); -1 (matches no row) past the last neuron or
// past s_end.
template <typename code_t>
__device__ __forceinline__ void load_codes(int32_t (*dst)[kStage], const code_t* __restrict src,
                                           int64_t n, int64_t S, int64_t s_end, int64_t first,
                                           int64_t s0) {
  for (int e = threadIdx.x; e < kMaxNeurons * kStage; e += kOnehotThreads) {
    const int j = e / kStage, k = e % kStage;
    const int64_t neuron = first + j, i = s0 + k;
    dst[j][k] = (neuron < n && i < s_end) ? (int32_t)src[neuron * S + i] : -1;
  }
}

// Row `row` of a one-hot operand tile: which loaded neuron and which code value.
struct OnehotRow {
  int32_t neuron, value;
};

template <typename code_t>
__global__ void __launch_bounds__(kOnehotThreads)
    hist_onehot_kernel(int32_t* __restrict counts, const code_t* __restrict x,
                       const code_t* __restrict y, int64_t S, int64_t na, int64_t nb,
                       int32_t RX, int32_t RY, int32_t RXp, int32_t RYp, int64_t tiles_m,
                       int64_t samples_per_split) {
  __shared__ OnehotSmem sm;
  const int64_t tile = blockIdx.x;
  const int64_t row0 = (tile % tiles_m) * kTile, col0 = (tile / tiles_m) * kTile;
  const int64_t a_first = row0 / RXp, b_first = col0 / RYp;
  const int64_t s_begin = (int64_t)blockIdx.y * samples_per_split;
  const int64_t s_end = min64(S, s_begin + samples_per_split);
  const bool exclusive = gridDim.y == 1;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wr = warp / 2, wc = warp % 2;  // this warp's 32 x 64 block of the tile

  // The words this thread builds: fixed across stages, so their rows' neuron
  // and value are computed once (arrays indexed by unrolled constants only).
  OnehotRow arow[kBuildPerThread], brow[kBuildPerThread];
#pragma unroll
  for (int m = 0; m < kBuildPerThread; ++m) {
    const int e = threadIdx.x + m * kOnehotThreads;
    const int row = (e % kWordsPerPlane) / 4;  // 4 words (16 samples) per row and plane
    const int64_t R = row0 + row, C = col0 + row;
    arow[m] = {(int32_t)(R / RXp - a_first), (int32_t)(R % RXp)};
    brow[m] = {(int32_t)(C / RYp - b_first), (int32_t)(C % RYp)};
  }

  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc[kWarpRows][kWarpCols];
#pragma unroll
  for (int i = 0; i < kWarpRows; ++i)
#pragma unroll
    for (int j = 0; j < kWarpCols; ++j) wmma::fill_fragment(acc[i][j], 0);

  for (int64_t s0 = s_begin; s0 < s_end; s0 += kStage) {
    load_codes(sm.xcodes, x, na, S, s_end, a_first, s0);
    load_codes(sm.ycodes, y, nb, S, s_end, b_first, s0);
    __syncthreads();
#pragma unroll
    for (int m = 0; m < kBuildPerThread; ++m) {
      const int e = threadIdx.x + m * kOnehotThreads;
      const int plane = e / kWordsPerPlane, w = e % kWordsPerPlane;
      const int k0 = plane * 16 + (w % 4) * 4;  // first of the word's 4 samples
      uint32_t av = 0u, bv = 0u;
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        av |= (uint32_t)(sm.xcodes[arow[m].neuron][k0 + t] == arow[m].value) << (8 * t);
        bv |= (uint32_t)(sm.ycodes[brow[m].neuron][k0 + t] == brow[m].value) << (8 * t);
      }
      reinterpret_cast<uint32_t*>(sm.a[plane])[w] = av;
      reinterpret_cast<uint32_t*>(sm.b[plane])[w] = bv;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kKSteps; ++k) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> af[kWarpRows];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> bf[kWarpCols];
#pragma unroll
      for (int i = 0; i < kWarpRows; ++i)
        wmma::load_matrix_sync(af[i], sm.a[k] + (wr * 32 + i * 16) * 16, 16);
#pragma unroll
      for (int j = 0; j < kWarpCols; ++j)
        wmma::load_matrix_sync(bf[j], sm.b[k] + (wc * 64 + j * 16) * 16, 16);
#pragma unroll
      for (int i = 0; i < kWarpRows; ++i)
#pragma unroll
        for (int j = 0; j < kWarpCols; ++j) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
    __syncthreads();  // the next stage overwrites the operands
  }

  // Epilogue: each fragment through the warp's staging tile into `counts`.
  int32_t* st = sm.stage[warp];
#pragma unroll
  for (int i = 0; i < kWarpRows; ++i) {
#pragma unroll
    for (int j = 0; j < kWarpCols; ++j) {
      wmma::store_matrix_sync(st, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int32_t v = st[e];
        const int64_t R = row0 + wr * 32 + i * 16 + e / 16;
        const int64_t C = col0 + wc * 64 + j * 16 + e % 16;
        const int64_t a = R / RXp, r = R % RXp, b = C / RYp, c = C % RYp;
        if (v != 0 && a < na && b < nb && r < RX && c < RY)
          add_count(counts + ((a * nb + b) * RX + r) * RY + c, v, exclusive);
      }
      __syncwarp();
    }
  }
}

template <typename code_t>
void launch_onehot(at::Tensor& counts, const at::Tensor& x, const at::Tensor& y,
                   const Shape& s) {
  const int64_t RXp = (s.RX + 15) / 16 * 16, RYp = (s.RY + 15) / 16 * 16;
  const int64_t tiles_m = (s.na * RXp + kTile - 1) / kTile;
  const int64_t tiles_n = (s.nb * RYp + kTile - 1) / kTile;
  const int64_t tiles = tiles_m * tiles_n;
  TORCH_CHECK(tiles <= 0x7fffffffLL, "pair_histogram_onehot_accumulate_: too many tiles");
  const int64_t splits = sample_splits(tiles, s.S);
  // Whole stages per split, so that only the last split has a partial stage.
  const int64_t per_split = ((s.S + splits - 1) / splits + kStage - 1) / kStage * kStage;
  const dim3 grid((unsigned)tiles, (unsigned)((s.S + per_split - 1) / per_split));
  hist_onehot_kernel<code_t><<<grid, kOnehotThreads, 0, current_stream()>>>(
      counts.data_ptr<int32_t>(), x.data_ptr<code_t>(), y.data_ptr<code_t>(), s.S, s.na, s.nb,
      (int32_t)s.RX, (int32_t)s.RY, (int32_t)RXp, (int32_t)RYp, tiles_m, per_split);
  DEI_CUDA_LAUNCH_CHECK();
}

void pair_histogram_onehot_accumulate_cuda(at::Tensor counts, const at::Tensor& x_codes,
                                           const at::Tensor& y_codes, bool check_codes) {
  const Shape s = check_args(counts, x_codes, y_codes);
  if (s.na == 0 || s.nb == 0 || s.S == 0) return;
  const c10::cuda::CUDAGuard guard(counts.device());
  int dev = 0, major = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  TORCH_CHECK(major >= 8, "pair_histogram_onehot_accumulate_ needs int8 tensor cores (sm_80+)");
  at::Tensor x = x_codes.contiguous(), y = y_codes.contiguous();
  if (check_codes) check_code_ranges(x, y, s);
  if (x.scalar_type() == at::kByte) launch_onehot<uint8_t>(counts, x, y, s);
  else launch_onehot<int32_t>(counts, x, y, s);
}

}  // namespace
}  // namespace cuda
}  // namespace deep_ei_fast

TORCH_LIBRARY_IMPL(deep_ei_fast, CUDA, m) {
  m.impl("pair_histogram_accumulate_", &deep_ei_fast::cuda::pair_histogram_accumulate_cuda);
  m.impl("pair_histogram_onehot_accumulate_",
         &deep_ei_fast::cuda::pair_histogram_onehot_accumulate_cuda);
}
