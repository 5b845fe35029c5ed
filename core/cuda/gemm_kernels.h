// The one GEMM case no BLAS call covers: K = 0, where C = beta · C and there is no product to add
// (core/cuda/gemm_kernels.cu). C is `batch` row-major rows × cols matrices with leading dimension ld
// (elements), matrix i starting at c + i · stride. beta = 0 writes zeros (clearing NaN garbage, as
// the CPU table does). C++17-clean (compiled by nvcc and by the host compiler).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// T is float or __nv_bfloat16 (scaled in f32, rounded once).
template <typename T>
void launch_scale_matrices(T* c, std::int64_t batch, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                           std::int64_t stride, float beta, cudaStream_t stream);

}  // namespace trident::cuda_kernels
