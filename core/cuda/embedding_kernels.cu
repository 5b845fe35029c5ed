// Embedding lookup over a row range of a table (see core/cuda/embedding_kernels.h).
//
// Both kernels give each token to one warp (8 tokens per 256-thread block) whose lanes stride
// over the row's c columns, so a row moves as coalesced (and, when c is a multiple of kVec and
// the pointers are 16-byte aligned, 128-bit) accesses. Ids outside this shard's rows are not
// errors: they give zero rows forward and no gradient backward, as on the CPU table (the TP
// all-reduce sums the shards).
//
// Backward scatters with f32 atomics because several tokens may share an id; per-element atomics
// on sm_80, and on sm_90 one 16-byte atomicAdd(float4) per four columns.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/embedding_kernels.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident::cuda_kernels {

namespace {

constexpr int kTokensPerBlock = 8;  // warps per block
constexpr int kVec = 8;             // elements per vectorised access

// dst[0..N) += v[0..N) atomically per element (per 4 elements on sm_90, where dst is then
// 16-byte aligned: N = kVec only with an aligned dtable and c % kVec == 0).
template <int N>
__device__ __forceinline__ void atomic_add_f32(float* dst, const float (&v)[N]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr bool kFloat4 = N % 4 == 0;
#else
  constexpr bool kFloat4 = false;
#endif
  if constexpr (kFloat4) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#pragma unroll
    for (int k = 0; k < N; k += 4)
      atomicAdd(reinterpret_cast<float4*>(dst + k), make_float4(v[k], v[k + 1], v[k + 2], v[k + 3]));
#endif
  } else {
#pragma unroll
    for (int k = 0; k < N; ++k) atomicAdd(dst + k, v[k]);
  }
}

template <int N, typename T, typename O>
__global__ void __launch_bounds__(kTokensPerBlock * kWarpSize)
    embedding_forward_kernel(const std::int32_t* __restrict__ ids, const T* __restrict__ table, std::int64_t rows,
                             std::int64_t row_begin, std::int64_t n, int c, O* __restrict__ out) {
  const int lane = lane_index();
  const std::int64_t token = warp_row<kTokensPerBlock>();
  if (token >= n) return;
  const std::int64_t r = static_cast<std::int64_t>(ids[token]) - row_begin;
  O* orow = out + token * c;
  if (r >= 0 && r < rows) {
    const T* trow = table + r * c;
    for (int j = lane * N; j < c; j += kWarpSize * N) {
      float v[N];
      load_f32<N>(trow + j, v);
      store_f32<N>(orow + j, v);
    }
  } else {
    float zeros[N];
#pragma unroll
    for (int k = 0; k < N; ++k) zeros[k] = 0.0f;
    for (int j = lane * N; j < c; j += kWarpSize * N) store_f32<N>(orow + j, zeros);
  }
}

template <int N, typename D>
__global__ void __launch_bounds__(kTokensPerBlock * kWarpSize)
    embedding_backward_kernel(const D* __restrict__ dout, const std::int32_t* __restrict__ ids, std::int64_t rows,
                              std::int64_t row_begin, std::int64_t n, int c, float* __restrict__ dtable) {
  const int lane = lane_index();
  const std::int64_t token = warp_row<kTokensPerBlock>();
  if (token >= n) return;
  const std::int64_t r = static_cast<std::int64_t>(ids[token]) - row_begin;
  if (r < 0 || r >= rows) return;  // another shard's id
  const D* drow = dout + token * c;
  float* trow = dtable + r * c;
  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float v[N];
    load_f32<N>(drow + j, v);
    atomic_add_f32<N>(trow + j, v);
  }
}

unsigned token_blocks(std::int64_t n) { return static_cast<unsigned>(ceil_div(n, kTokensPerBlock)); }

}  // namespace

template <typename T, typename O>
void launch_embedding_forward(const std::int32_t* ids, const T* table, std::int64_t rows, std::int64_t row_begin,
                              std::int64_t n, int c, O* out, cudaStream_t stream) {
  if (n == 0 || c == 0) return;
  const dim3 grid(token_blocks(n)), block(kTokensPerBlock * kWarpSize);
  const bool vectorised = c % kVec == 0 && pack_aligned<kVec>(table) && pack_aligned<kVec>(out);
  dispatch_pack_width<kVec>(vectorised, [&](auto width) {
    embedding_forward_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(ids, table, rows, row_begin, n, c,
                                                                                 out);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template <typename D>
void launch_embedding_backward(const D* dout, const std::int32_t* ids, std::int64_t rows, std::int64_t row_begin,
                               std::int64_t n, int c, float* dtable, cudaStream_t stream) {
  if (n == 0 || c == 0) return;
  const dim3 grid(token_blocks(n)), block(kTokensPerBlock * kWarpSize);
  const bool vectorised = c % kVec == 0 && pack_aligned<kVec>(dout) && pack_aligned<kVec>(dtable);
  dispatch_pack_width<kVec>(vectorised, [&](auto width) {
    embedding_backward_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(dout, ids, rows, row_begin, n, c,
                                                                                  dtable);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

#define TRIDENT_EMBEDDING_INSTANTIATE_FORWARD(T, O)                                                          \
  template void launch_embedding_forward<T, O>(const std::int32_t*, const T*, std::int64_t, std::int64_t,    \
                                               std::int64_t, int, O*, cudaStream_t);
TRIDENT_EMBEDDING_INSTANTIATE_FORWARD(float, float)
TRIDENT_EMBEDDING_INSTANTIATE_FORWARD(float, __nv_bfloat16)
TRIDENT_EMBEDDING_INSTANTIATE_FORWARD(__nv_bfloat16, float)
TRIDENT_EMBEDDING_INSTANTIATE_FORWARD(__nv_bfloat16, __nv_bfloat16)
#undef TRIDENT_EMBEDDING_INSTANTIATE_FORWARD

template void launch_embedding_backward<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t,
                                               std::int64_t, int, float*, cudaStream_t);
template void launch_embedding_backward<__nv_bfloat16>(const __nv_bfloat16*, const std::int32_t*, std::int64_t,
                                                       std::int64_t, std::int64_t, int, float*, cudaStream_t);

}  // namespace trident::cuda_kernels
