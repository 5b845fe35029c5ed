// Vocab-parallel cross-entropy kernels (core/cuda/cross_entropy_kernels.cu) behind raw-pointer
// launchers for core/cuda/cuda_cross_entropy.cpp. logits/dlogits [n, vl] hold vocab ids
// [begin, begin + vl) of which the first `valid` columns are real (the rest is TP padding);
// element type T is float or __nv_bfloat16. targets i32 [n]; row_max, sum_exp, target_logit and
// losses f32 [n]. Launchers enqueue on `stream` and return at once. C++17-clean.
//
// Targets outside [0, vocab) are found on the device: the kernels atomicMin an encoded
// (row, target) into a 64-bit word, so the word ends up naming the first bad row, and the host
// reads it when it chooses to synchronise (see cuda_cross_entropy.cpp).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// The bad-target word: (row << 32) | uint32(target), or kNoBadTarget (all ones, as a 0xFF memset
// leaves it) when every target was in range. Rows must be < 2^32 − 1 (checked by the caller).
constexpr unsigned long long kNoBadTarget = ~0ull;
constexpr std::int64_t bad_target_row(unsigned long long word) { return static_cast<std::int64_t>(word >> 32); }
constexpr std::int32_t bad_target_value(unsigned long long word) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(word & 0xffffffffull));
}

// row_max[r] = max of the real columns of row r (−inf when valid == 0).
template <typename T>
void launch_cross_entropy_row_max(const T* logits, std::int64_t n, int vl, int valid, float* row_max,
                                  cudaStream_t stream);

// sum_exp[r] = Σ_real exp(logit − row_max[r]); target_logit[r] = the target's logit when this
// shard holds it (begin <= t < begin + valid), else 0. Bad targets go to *bad_target.
template <typename T>
void launch_cross_entropy_sums(const T* logits, const std::int32_t* targets, std::int64_t n, int vl,
                               std::int64_t begin, int valid, std::int64_t vocab, const float* row_max,
                               float* sum_exp, float* target_logit, unsigned long long* bad_target,
                               cudaStream_t stream);

// losses[r] = log(sum_exp[r]) + row_max[r] − target_logit[r].
void launch_cross_entropy_losses(const float* row_max, const float* sum_exp, const float* target_logit,
                                 std::int64_t n, float* losses, cudaStream_t stream);

// dlogits[r, j] = dloss · (exp(logit − row_max[r]) / sum_exp[r] − [begin + j == t]) for real
// columns, 0 for padding; written. Bad targets go to *bad_target (their rows get no one-hot term).
template <typename T>
void launch_cross_entropy_backward(const T* logits, const std::int32_t* targets, std::int64_t n, int vl,
                                   std::int64_t begin, int valid, std::int64_t vocab, const float* row_max,
                                   const float* sum_exp, float dloss, T* dlogits, unsigned long long* bad_target,
                                   cudaStream_t stream);

}  // namespace trident::cuda_kernels
