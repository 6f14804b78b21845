// Helpers shared by the CUDA kernels (host side: argument checks, stream,
// launch checks, scalar reads). Only c10/cuda headers: no ATen/cuda context.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>

#include "deep_ei_fast/op_checks.h"

#include <algorithm>
#include <utility>

namespace deep_ei_fast {
namespace cuda {

// min of two int64 on host and device (std::min is host-only).
__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

constexpr c10::DeviceType kCUDA = c10::DeviceType::CUDA;

inline void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* name) {
  TORCH_CHECK(a.device() == b.device(), name, " must be on ", a.device(), ", got ",
              b.device());
}

// Blocks of `threads` covering n items, capped (the kernels use grid-stride loops).
inline unsigned int blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 32) {
  const int64_t b = (n + threads - 1) / threads;
  return (unsigned int)std::max<int64_t>(1, std::min<int64_t>(b, cap));
}

inline int multiprocessor_count() {
  int dev = 0, sms = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  return sms;
}

inline int max_shared_bytes_optin() {
  int dev = 0, bytes = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return bytes;
}

// A device scalar read back to the host (a synchronization): used for the input
// checks the CPU kernels also make, and for output sizes.
inline int64_t read_scalar(const at::Tensor& t) { return t.item<int64_t>(); }

// (min, max) of an integer tensor, reduced on the device; two scalars come back.
inline std::pair<int64_t, int64_t> min_max(const at::Tensor& t) {
  if (t.numel() == 0) return {0, -1};
  auto mm = at::aminmax(t);
  at::Tensor both = at::stack({std::get<0>(mm).to(at::kLong), std::get<1>(mm).to(at::kLong)}).cpu();
  return {both[0].item<int64_t>(), both[1].item<int64_t>()};
}

// Runs a CUB device-wide algorithm: `run(temp, bytes)` is called once with a
// null buffer to size it, then with temporary storage allocated by torch's
// caching allocator on `device`.
template <typename Run>
void with_cub_temp(const at::Device& device, Run run) {
  size_t bytes = 0;
  C10_CUDA_CHECK(run(nullptr, bytes));
  at::Tensor temp = at::empty({(int64_t)std::max<size_t>(bytes, 1)},
                              at::TensorOptions().dtype(at::kByte).device(device));
  C10_CUDA_CHECK(run(temp.data_ptr(), bytes));
}

}  // namespace cuda
}  // namespace deep_ei_fast

// Grid-stride loop of a kernel: int64 `t` over [0, total), so that a grid capped
// by blocks_for covers any size.
#define DEI_GRID_STRIDE(t, total)                                                  \
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < (total); \
       t += (int64_t)gridDim.x * blockDim.x)

// Checks the last launch (the kernels themselves are asynchronous).
#define DEI_CUDA_LAUNCH_CHECK() C10_CUDA_KERNEL_LAUNCH_CHECK()
