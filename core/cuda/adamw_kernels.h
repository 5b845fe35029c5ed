// Raw-pointer launcher of the fused AdamW kernel (core/cuda/adamw_kernels.cu). C++17 so nvcc and
// g++ both include it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident {

// One step's hyper-parameters with the bias corrections already inverted on the host (in double,
// as CpuOps::adamw_update does).
struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay;
  float inv_bias_correction1;  // 1 / (1 − β1^t)
  float inv_bias_correction2;  // 1 / (1 − β2^t)
};

// For each i in [0, n), f32 throughout, in one pass over the four arrays:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  m̂ = m/(1−β1^t);  v̂ = v/(1−β2^t)
//   param −= lr·(m̂/(√v̂ + eps) + weight_decay·param)
void launch_adamw(float* param, const float* grad, float* m, float* v, std::int64_t n, const AdamWStep& step,
                  cudaStream_t stream);

}  // namespace trident
