// Kernels of the f32 causal-attention path (core/cuda/cuda_attention.cpp), which runs the scores
// and products as cuBLASLt GEMMs and does the softmax parts here (the bf16 path is cuDNN's fused
// flash attention and needs none of this). All f32, all on raw pointers; launchers enqueue on
// `stream` and return at once. C++17-clean (compiled by nvcc and by the host compiler).
//
// Layouts (B batch, nh heads, S sequence, hd head dim):
//   scores / probabilities p [B, nh, S, S]: `rows` = B·nh·S rows of S columns; row r belongs to
//     query i = r % S, whose causal keys are columns [0, i];
//   softmax statistics lse / row dots d [B, nh, S]: one value per row r of p;
//   out / dout [B, S, nh, hd] (the op table's activation layout).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident::cuda_kernels {

// Row r of p holds the scaled scores; writes the causal softmax in place (columns > i become 0)
// and lse[r] = max + log(Σ exp(score − max)) over the causal columns.
void launch_causal_softmax_forward(float* p, float* lse, std::int64_t rows, std::int64_t s, cudaStream_t stream);

// Row r of p holds the scaled scores again (backward recomputes them); rebuilds the probabilities
// from the saved statistics: p = exp(score − lse[r]) on columns [0, i], 0 right of the diagonal.
void launch_causal_probs_from_lse(float* p, const float* lse, std::int64_t rows, std::int64_t s, cudaStream_t stream);

// d[(b·nh + h)·S + i] = Σ_e dout[b, i, h, e] · out[b, i, h, e]: rowsum(dP ∘ P) of the softmax
// gradient, computed from the output side (equal, since O = P·V and dP = dO·Vᵀ).
void launch_attention_row_dots(const float* dout, const float* out, float* d, std::int64_t batch, std::int64_t seq,
                               std::int64_t heads, std::int64_t head_dim, cudaStream_t stream);

// In place: ds = p ∘ (ds − d[r]) on every row r, turning dP into dS (0 where p is 0).
void launch_softmax_backward(float* ds, const float* p, const float* d, std::int64_t rows, std::int64_t s,
                             cudaStream_t stream);

}  // namespace trident::cuda_kernels
