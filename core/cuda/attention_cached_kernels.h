// Kernels of attention against a KV cache (generation; Ops::attention_cached), behind raw-pointer
// launchers for core/cuda/cuda_attention_cached.cpp. Layouts (B batch, T new tokens, nh heads, hd
// head dim, C cache positions): qkv [B, T, 3, nh, hd], k_cache / v_cache [B, nh, C, hd], out
// [B, T, nh, hd]; element type float or __nv_bfloat16, scores and softmax in f32. Launchers enqueue
// on `stream` and return at once. C++17-clean (compiled by nvcc and by the host compiler).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// Shared memory one query's block needs: its scaled q (hd) and the scores of past + T keys, f32.
inline std::int64_t attention_cached_smem_bytes(std::int64_t keys, std::int64_t hd) {
  return (keys + hd) * static_cast<std::int64_t>(sizeof(float));
}

// Writes the new tokens' k, v into cache rows [past, past + T), then out for each new token.
template <typename E>
void launch_attention_cached(const E* qkv, E* k_cache, E* v_cache, E* out, std::int64_t batch, std::int64_t tokens,
                             std::int64_t heads, std::int64_t head_dim, std::int64_t capacity, std::int64_t past,
                             cudaStream_t stream);

}  // namespace trident::cuda_kernels
