// C = beta · C over a strided batch of row-major matrices (GEMMs with K = 0). One thread per
// element in a grid-stride loop; consecutive threads walk a row, so accesses are coalesced.
#include "core/cuda/gemm_kernels.h"

#include <algorithm>

#include "core/cuda/cuda_check.h"

namespace trident::cuda_kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 1 << 16;  // the grid-stride loop covers the rest

template <typename T>
__device__ float load(const T* p);
template <>
__device__ float load<float>(const float* p) { return *p; }
template <>
__device__ float load<__nv_bfloat16>(const __nv_bfloat16* p) { return __bfloat162float(*p); }

template <typename T>
__device__ void store(T* p, float v);
template <>
__device__ void store<float>(float* p, float v) { *p = v; }
template <>
__device__ void store<__nv_bfloat16>(__nv_bfloat16* p, float v) { *p = __float2bfloat16(v); }

template <typename T>
__global__ void scale_matrices_kernel(T* c, std::int64_t total, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                      std::int64_t stride, float beta) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const std::int64_t col = i % cols;
    const std::int64_t t = i / cols;
    const std::int64_t row = t % rows;
    const std::int64_t b = t / rows;
    T* p = c + b * stride + row * ld + col;
    store(p, beta == 0.0f ? 0.0f : beta * load(p));
  }
}

}  // namespace

template <typename T>
void launch_scale_matrices(T* c, std::int64_t batch, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, float beta, cudaStream_t stream) {
  const std::int64_t total = batch * rows * cols;
  if (total == 0 || beta == 1.0f) return;
  const int blocks = static_cast<int>(std::min<std::int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
  scale_matrices_kernel<T><<<blocks, kThreads, 0, stream>>>(c, total, rows, cols, ld, stride, beta);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template void launch_scale_matrices<float>(float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                           std::int64_t, float, cudaStream_t);
template void launch_scale_matrices<__nv_bfloat16>(__nv_bfloat16*, std::int64_t, std::int64_t, std::int64_t,
                                                   std::int64_t, std::int64_t, float, cudaStream_t);

}  // namespace trident::cuda_kernels
