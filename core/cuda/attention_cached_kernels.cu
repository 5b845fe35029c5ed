// Attention against a KV cache (see core/cuda/attention_cached_kernels.h).
//
// 1. append: one thread per new element copies k and v of token t, head n, into cache row past + t.
// 2. attention: one block per (b, n, t) query, keys = past + t + 1 (causal):
//      q' = q·(1/√hd) in shared memory;  s[j] = q'·K[j] (threads stride over keys j)
//      m = max_j s[j];  w[j] = exp(s[j] − m);  l = Σ_j w[j]  (two block reductions)
//      out[e] = Σ_j w[j]·V[j, e] / l  (threads stride over the head's hd columns)
//    Decoding has one query per head and a short cache, so a block per query keeps every thread
//    busy on the keys; it is not a flash kernel for long prefills (those run once per prompt).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda/attention_cached_kernels.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident::cuda_kernels {

namespace {

constexpr int kThreads = 128;

template <typename E>
__global__ void append_kv_kernel(const E* __restrict__ qkv, E* __restrict__ k_cache, E* __restrict__ v_cache,
                                 std::int64_t tokens, std::int64_t heads, std::int64_t hd, std::int64_t capacity,
                                 std::int64_t past, std::int64_t total) {
  for (std::int64_t i = grid_thread_index(); i < total; i += grid_threads()) {
    // i = ((b·T + t)·nh + n)·hd + e
    const std::int64_t e = i % hd, n = (i / hd) % heads, bt = i / (hd * heads);
    const std::int64_t b = bt / tokens, t = bt % tokens;
    const E* row = qkv + bt * 3 * heads * hd + n * hd + e;
    const std::int64_t dst = ((b * heads + n) * capacity + past + t) * hd + e;
    k_cache[dst] = row[heads * hd];
    v_cache[dst] = row[2 * heads * hd];
  }
}

// op over the block, the result in every thread; `slots` (32 floats of shared memory) may be
// reused by the next call.
template <typename Op>
__device__ float block_all_reduce(float v, Op op, float* slots) {
  const int lane = lane_index(), warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  v = warp_reduce(v, op);
  __syncthreads();  // the previous call's readers are done with the slots
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  return warp_reduce(lane < warps ? slots[lane] : Op::identity(), op);
}

template <typename E>
__global__ void __launch_bounds__(kThreads)
    attention_cached_kernel(const E* __restrict__ qkv, const E* __restrict__ k_cache, const E* __restrict__ v_cache,
                            E* __restrict__ out, std::int64_t tokens, std::int64_t heads, int hd,
                            std::int64_t capacity, std::int64_t past, float scale) {
  extern __shared__ float smem[];
  __shared__ float slots[kWarpSize];
  float* q = smem;       // [hd]
  float* w = smem + hd;  // [keys]
  const std::int64_t t = blockIdx.x % tokens, bn = blockIdx.x / tokens;  // bn = b·nh + n
  const std::int64_t b = bn / heads, n = bn % heads;
  const std::int64_t keys = past + t + 1;
  const E* qrow = qkv + (b * tokens + t) * 3 * heads * hd + n * hd;
  for (int e = threadIdx.x; e < hd; e += blockDim.x) q[e] = to_f32(qrow[e]) * scale;
  __syncthreads();
  const E* K = k_cache + bn * capacity * hd;
  const E* V = v_cache + bn * capacity * hd;
  float m = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < keys; j += blockDim.x) {
    float s = 0.0f;
    for (int e = 0; e < hd; ++e) s += q[e] * to_f32(K[j * hd + e]);
    w[j] = s;
    m = fmaxf(m, s);
  }
  m = block_all_reduce(m, MaxOp(), slots);
  float l = 0.0f;
  for (std::int64_t j = threadIdx.x; j < keys; j += blockDim.x) l += (w[j] = expf(w[j] - m));
  l = block_all_reduce(l, SumOp<float>(), slots);  // also orders the w writes before the reads below
  E* orow = out + ((b * tokens + t) * heads + n) * hd;
  for (int e = threadIdx.x; e < hd; e += blockDim.x) {
    float acc = 0.0f;
    for (std::int64_t j = 0; j < keys; ++j) acc += w[j] * to_f32(V[j * hd + e]);
    orow[e] = from_f32<E>(acc / l);
  }
}

}  // namespace

template <typename E>
void launch_attention_cached(const E* qkv, E* k_cache, E* v_cache, E* out, std::int64_t batch, std::int64_t tokens,
                             std::int64_t heads, std::int64_t head_dim, std::int64_t capacity, std::int64_t past,
                             cudaStream_t stream) {
  const std::int64_t total = batch * tokens * heads * head_dim;
  if (total == 0) return;
  append_kv_kernel<E><<<grid_stride_blocks(total, 256), 256, 0, stream>>>(qkv, k_cache, v_cache, tokens, heads,
                                                                          head_dim, capacity, past, total);
  TRIDENT_CUDA_LAUNCH_CHECK();
  const auto smem = static_cast<std::size_t>(attention_cached_smem_bytes(past + tokens, head_dim));
  const float scale = 1.0f / sqrtf(static_cast<float>(head_dim));
  attention_cached_kernel<E><<<static_cast<unsigned>(batch * heads * tokens), kThreads, smem, stream>>>(
      qkv, k_cache, v_cache, out, tokens, heads, static_cast<int>(head_dim), capacity, past, scale);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template void launch_attention_cached<float>(const float*, float*, float*, float*, std::int64_t, std::int64_t,
                                             std::int64_t, std::int64_t, std::int64_t, std::int64_t, cudaStream_t);
template void launch_attention_cached<__nv_bfloat16>(const __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*,
                                                     __nv_bfloat16*, std::int64_t, std::int64_t, std::int64_t,
                                                     std::int64_t, std::int64_t, std::int64_t, cudaStream_t);

}  // namespace trident::cuda_kernels
