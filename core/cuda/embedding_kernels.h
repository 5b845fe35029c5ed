// Embedding lookup kernels (core/cuda/embedding_kernels.cu) behind raw-pointer launchers for
// core/cuda/cuda_embedding.cpp. The table holds rows [row_begin, row_begin + rows) of a (possibly
// vocab-sharded) vocabulary: table/dtable [rows, c], ids i32 [n], out/dout [n, c]. Element types
// are float or __nv_bfloat16 (T: table, O: out, D: dout); dtable is f32. Launchers enqueue on
// `stream` and return at once. C++17-clean (compiled by nvcc and by the host compiler).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// out[i] = table[ids[i] − row_begin] when that row is in the table, else a row of zeros (another
// rank holds it). Converts T to O through f32 (exact for f32 -> bf16 of bf16-representable values).
template <typename T, typename O>
void launch_embedding_forward(const std::int32_t* ids, const T* table, std::int64_t rows, std::int64_t row_begin,
                              std::int64_t n, int c, O* out, cudaStream_t stream);

// dtable[ids[i] − row_begin] += dout[i] for ids in the table (f32 atomics, so repeated ids
// accumulate; the order of their additions is unspecified).
template <typename D>
void launch_embedding_backward(const D* dout, const std::int32_t* ids, std::int64_t rows, std::int64_t row_begin,
                               std::int64_t n, int c, float* dtable, cudaStream_t stream);

}  // namespace trident::cuda_kernels
