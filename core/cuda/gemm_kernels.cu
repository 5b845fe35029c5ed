// C = beta · C over a strided batch of row-major matrices (GEMMs with K = 0). One thread per
// element in a grid-stride loop; consecutive threads walk a row, so accesses are coalesced.
#include "core/cuda/gemm_kernels.h"

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident::cuda_kernels {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void scale_matrices_kernel(T* c, std::int64_t total, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                      std::int64_t stride, float beta) {
  for (std::int64_t i = grid_thread_index(); i < total; i += grid_threads()) {
    const std::int64_t col = i % cols;
    const std::int64_t t = i / cols;
    const std::int64_t row = t % rows;
    const std::int64_t b = t / rows;
    T* p = c + b * stride + row * ld + col;
    *p = from_f32<T>(beta == 0.0f ? 0.0f : beta * to_f32(*p));
  }
}

}  // namespace

template <typename T>
void launch_scale_matrices(T* c, std::int64_t batch, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, float beta, cudaStream_t stream) {
  const std::int64_t total = batch * rows * cols;
  if (total == 0 || beta == 1.0f) return;
  scale_matrices_kernel<T><<<grid_stride_blocks(total, kThreads), kThreads, 0, stream>>>(c, total, rows, cols, ld, stride, beta);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template void launch_scale_matrices<float>(float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                           std::int64_t, float, cudaStream_t);
template void launch_scale_matrices<__nv_bfloat16>(__nv_bfloat16*, std::int64_t, std::int64_t, std::int64_t,
                                                   std::int64_t, std::int64_t, float, cudaStream_t);

}  // namespace trident::cuda_kernels
