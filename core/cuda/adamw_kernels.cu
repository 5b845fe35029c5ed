// Fused AdamW: reads param, grad, m, v once and writes param, m, v once (28 bytes of traffic per
// parameter, the minimum), as float4 when all four arrays are 16-byte aligned.
#include "core/cuda/adamw_kernels.h"

#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident {

namespace {

using namespace cuda_kernels;

constexpr int kThreads = 256;

// The CPU table's formula, operation for operation (sqrtf and '/' are IEEE-exact: no fast math).
__device__ __forceinline__ void adamw_element(float& w, float g, float& m, float& v, const AdamWStep& s) {
  const float mi = s.beta1 * m + (1.0f - s.beta1) * g;
  const float vi = s.beta2 * v + (1.0f - s.beta2) * g * g;
  m = mi;
  v = vi;
  const float mhat = mi * s.inv_bias_correction1;
  const float vhat = vi * s.inv_bias_correction2;
  w -= s.lr * (mhat / (sqrtf(vhat) + s.eps) + s.weight_decay * w);
}

// Grid-stride over float4 packs when `packed` (then the n % 4 tail one by one), else elementwise.
__global__ void __launch_bounds__(kThreads)
    adamw_kernel(float* param, const float* grad, float* m, float* v, std::int64_t n, bool packed, AdamWStep s) {
  const std::int64_t stride = grid_threads();
  const std::int64_t first = grid_thread_index();
  std::int64_t done = 0;
  if (packed) {
    const std::int64_t packs = n / 4;
    for (std::int64_t p = first; p < packs; p += stride) {
      float4 w4 = reinterpret_cast<const float4*>(param)[p];
      const float4 g4 = reinterpret_cast<const float4*>(grad)[p];
      float4 m4 = reinterpret_cast<const float4*>(m)[p];
      float4 v4 = reinterpret_cast<const float4*>(v)[p];
      adamw_element(w4.x, g4.x, m4.x, v4.x, s);
      adamw_element(w4.y, g4.y, m4.y, v4.y, s);
      adamw_element(w4.z, g4.z, m4.z, v4.z, s);
      adamw_element(w4.w, g4.w, m4.w, v4.w, s);
      reinterpret_cast<float4*>(param)[p] = w4;
      reinterpret_cast<float4*>(m)[p] = m4;
      reinterpret_cast<float4*>(v)[p] = v4;
    }
    done = packs * 4;
  }
  for (std::int64_t i = done + first; i < n; i += stride) {
    float w = param[i], mi = m[i], vi = v[i];
    adamw_element(w, grad[i], mi, vi, s);
    param[i] = w;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void launch_adamw(float* param, const float* grad, float* m, float* v, std::int64_t n, const AdamWStep& step,
                  cudaStream_t stream) {
  if (n <= 0) return;
  const bool packed =
      n >= 4 && pack_aligned<4>(param) && pack_aligned<4>(grad) && pack_aligned<4>(m) && pack_aligned<4>(v);
  const int blocks = grid_stride_blocks(packed ? n / 4 : n, kThreads);
  adamw_kernel<<<blocks, kThreads, 0, stream>>>(param, grad, m, v, n, packed, step);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

}  // namespace trident
