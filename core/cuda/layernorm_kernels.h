// LayerNorm kernels (core/cuda/layernorm_kernels.cu) behind raw-pointer launchers, so the C++20 op
// code (core/cuda/cuda_layernorm.cpp) never sees device code. Shapes: x, out, dout, dx [n, c] row-major
// in the activation type X (float or __nv_bfloat16); weight, bias [c] in the weight type W (float or
// __nv_bfloat16); mean, rstd [n], dweight, dbias [c] and the partial sums are f32. All math in f32.
// Launchers enqueue on `stream` and return at once; they are explicitly instantiated for every
// (X, W) pair in the .cu file. C++17-clean (compiled by nvcc and by the host compiler).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// out = (x - mean) · rstd · weight + bias per row, with the biased variance (two passes over the
// row in f32) and rstd = 1/√(var + eps); mean and rstd are saved for the backward halves.
template <typename X, typename W>
void launch_layernorm_forward(const X* x, const W* weight, const W* bias, float eps, std::int64_t n, int c, X* out,
                              float* mean, float* rstd, cudaStream_t stream);

// dx = rstd · (dnorm − mean(dnorm) − xhat · mean(dnorm · xhat)), dnorm = dout · weight,
// xhat = (x − mean) · rstd. dx is written.
template <typename X, typename W>
void launch_layernorm_backward_input(const X* dout, const X* x, const W* weight, const float* mean,
                                     const float* rstd, std::int64_t n, int c, X* dx, cudaStream_t stream);

// How many row chunks layernorm_backward_weight splits n rows into for this GPU (enough blocks to
// fill it); the caller allocates partials of layernorm_weight_grad_chunks(...) · 2 · c floats.
int layernorm_weight_grad_chunks(std::int64_t n, int c, int sm_count);

// dweight[c] += Σ_rows dout · xhat, dbias[c] += Σ_rows dout. Two deterministic stages: each
// (column tile, row chunk) block writes its column sums to partials [chunks, 2, c]; a second
// kernel adds the chunks in order and accumulates into dweight and dbias.
template <typename X>
void launch_layernorm_backward_weight(const X* dout, const X* x, const float* mean, const float* rstd,
                                      std::int64_t n, int c, int chunks, float* partials, float* dweight,
                                      float* dbias, cudaStream_t stream);

}  // namespace trident::cuda_kernels
