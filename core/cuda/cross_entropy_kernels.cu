// Vocab-parallel cross-entropy (see core/cuda/cross_entropy_kernels.h and core/ops.h).
//
// Every row-wise kernel gives one row to one 256-thread block: the threads stride over the row's
// columns (up to ~50k), with 128-bit loads when vl is a multiple of kVec and the pointers are
// 16-byte aligned, and a block reduction (warp shuffles, then one value per warp through shared
// memory) in f32. Padding columns never enter a max or a sum; backward writes them as 0.
// expf/logf are the accurate versions (no fast math), within ~2 ulp of the CPU table's.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "core/cuda/cross_entropy_kernels.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident::cuda_kernels {

namespace {

constexpr int kThreads = 256;  // per row
constexpr int kVec = 8;        // elements per vectorised access

// f(value) for each real column [0, valid) of a row, spread over the block: packs of N while a
// whole pack is real, then single elements for the tail.
template <int N, typename T, typename F>
__device__ __forceinline__ void for_each_real(const T* row, int valid, F& f) {
  const int tid = static_cast<int>(threadIdx.x);
  const int vec_end = valid / N * N;
  for (int j = tid * N; j < vec_end; j += kThreads * N) {
    float v[N];
    load_f32<N>(row + j, v);
#pragma unroll
    for (int k = 0; k < N; ++k) f(v[k]);
  }
  for (int j = vec_end + tid; j < valid; j += kThreads) f(to_f32(row[j]));
}

__device__ __forceinline__ void check_target(std::int32_t t, std::int64_t vocab, std::int64_t row,
                                             unsigned long long* bad_target) {
  if (t < 0 || t >= vocab)
    atomicMin(bad_target, (static_cast<unsigned long long>(row) << 32) | static_cast<std::uint32_t>(t));
}

template <int N, typename T>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_row_max_kernel(const T* __restrict__ logits, int vl, int valid, float* __restrict__ row_max) {
  const std::int64_t row = blockIdx.x;
  float m = -INFINITY;
  auto take = [&](float v) { m = fmaxf(m, v); };
  for_each_real<N>(logits + row * vl, valid, take);
  m = block_reduce(m, MaxOp());
  if (threadIdx.x == 0) row_max[row] = m;
}

template <int N, typename T>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_sums_kernel(const T* __restrict__ logits, const std::int32_t* __restrict__ targets, int vl,
                              std::int64_t begin, int valid, std::int64_t vocab, const float* __restrict__ row_max,
                              float* __restrict__ sum_exp, float* __restrict__ target_logit,
                              unsigned long long* bad_target) {
  const std::int64_t row = blockIdx.x;
  const T* xr = logits + row * vl;
  const float m = row_max[row];
  float s = 0.0f;
  auto add = [&](float v) { s += expf(v - m); };
  for_each_real<N>(xr, valid, add);
  s = block_reduce(s, SumOp<float>());
  if (threadIdx.x == 0) {
    sum_exp[row] = s;
    const std::int32_t t = targets[row];
    const std::int64_t local = static_cast<std::int64_t>(t) - begin;
    target_logit[row] = local >= 0 && local < valid ? to_f32(xr[local]) : 0.0f;
    check_target(t, vocab, row, bad_target);
  }
}

__global__ void cross_entropy_losses_kernel(const float* __restrict__ row_max, const float* __restrict__ sum_exp,
                                            const float* __restrict__ target_logit, std::int64_t n,
                                            float* __restrict__ losses) {
  const std::int64_t stride = grid_threads();
  for (std::int64_t i = grid_thread_index(); i < n; i += stride)
    losses[i] = logf(sum_exp[i]) + row_max[i] - target_logit[i];
}

// One pass per row: each exponential is computed once and scaled straight into dlogits. With
// N = kVec, vl % N == 0, so packs tile the whole row; padding is never read.
template <int N, typename T>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const T* logits, const std::int32_t* __restrict__ targets, int vl,
                                  std::int64_t begin, int valid, std::int64_t vocab,
                                  const float* __restrict__ row_max, const float* __restrict__ sum_exp, float dloss,
                                  T* dlogits, unsigned long long* bad_target) {
  // logits and dlogits may be the same buffer (the gradient in place): no __restrict__ on them, and
  // each thread reads its elements before writing them.
  const std::int64_t row = blockIdx.x;
  const T* xr = logits + row * vl;
  T* gr = dlogits + row * vl;
  const float shift = row_max[row], scale = dloss / sum_exp[row];
  const std::int32_t t = targets[row];
  // A bad target (t < 0 or t >= vocab) never lands in [0, valid): begin + valid <= vocab.
  const std::int64_t local = static_cast<std::int64_t>(t) - begin;
  for (int j = static_cast<int>(threadIdx.x) * N; j < vl; j += kThreads * N) {
    float v[N], g[N];
    if (j + N <= valid) {
      load_f32<N>(xr + j, v);
    } else {
#pragma unroll
      for (int k = 0; k < N; ++k) v[k] = j + k < valid ? to_f32(xr[j + k]) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const int col = j + k;
      float gv = 0.0f;
      if (col < valid) {
        gv = scale * expf(v[k] - shift);
        if (col == local) gv -= dloss;
      }
      g[k] = gv;
    }
    store_f32<N>(gr + j, g);
  }
  if (threadIdx.x == 0) check_target(t, vocab, row, bad_target);
}

template <typename T>
bool vectorisable(int vl, const T* a, const T* b) {
  return vl % kVec == 0 && pack_aligned<kVec>(a) && pack_aligned<kVec>(b);
}

}  // namespace

template <typename T>
void launch_cross_entropy_row_max(const T* logits, std::int64_t n, int vl, int valid, float* row_max,
                                  cudaStream_t stream) {
  if (n == 0) return;
  const dim3 grid(static_cast<unsigned>(n)), block(kThreads);
  dispatch_pack_width<kVec>(vectorisable(vl, logits, logits), [&](auto width) {
    cross_entropy_row_max_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(logits, vl, valid, row_max);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template <typename T>
void launch_cross_entropy_sums(const T* logits, const std::int32_t* targets, std::int64_t n, int vl,
                               std::int64_t begin, int valid, std::int64_t vocab, const float* row_max,
                               float* sum_exp, float* target_logit, unsigned long long* bad_target,
                               cudaStream_t stream) {
  if (n == 0) return;
  const dim3 grid(static_cast<unsigned>(n)), block(kThreads);
  dispatch_pack_width<kVec>(vectorisable(vl, logits, logits), [&](auto width) {
    cross_entropy_sums_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(
        logits, targets, vl, begin, valid, vocab, row_max, sum_exp, target_logit, bad_target);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

void launch_cross_entropy_losses(const float* row_max, const float* sum_exp, const float* target_logit,
                                 std::int64_t n, float* losses, cudaStream_t stream) {
  if (n == 0) return;
  cross_entropy_losses_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream>>>(row_max, sum_exp,
                                                                                         target_logit, n, losses);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template <typename T>
void launch_cross_entropy_backward(const T* logits, const std::int32_t* targets, std::int64_t n, int vl,
                                   std::int64_t begin, int valid, std::int64_t vocab, const float* row_max,
                                   const float* sum_exp, float dloss, T* dlogits, unsigned long long* bad_target,
                                   cudaStream_t stream) {
  if (n == 0) return;
  const dim3 grid(static_cast<unsigned>(n)), block(kThreads);
  dispatch_pack_width<kVec>(vectorisable(vl, logits, dlogits), [&](auto width) {
    cross_entropy_backward_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(
        logits, targets, vl, begin, valid, vocab, row_max, sum_exp, dloss, dlogits, bad_target);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

#define TRIDENT_CE_INSTANTIATE(T)                                                                              \
  template void launch_cross_entropy_row_max<T>(const T*, std::int64_t, int, int, float*, cudaStream_t);      \
  template void launch_cross_entropy_sums<T>(const T*, const std::int32_t*, std::int64_t, int, std::int64_t,   \
                                             int, std::int64_t, const float*, float*, float*,                  \
                                             unsigned long long*, cudaStream_t);                               \
  template void launch_cross_entropy_backward<T>(const T*, const std::int32_t*, std::int64_t, int,             \
                                                 std::int64_t, int, std::int64_t, const float*, const float*,  \
                                                 float, T*, unsigned long long*, cudaStream_t);
TRIDENT_CE_INSTANTIATE(float)
TRIDENT_CE_INSTANTIATE(__nv_bfloat16)
#undef TRIDENT_CE_INSTANTIATE

}  // namespace trident::cuda_kernels
