// Causal scaled-dot-product attention through cuDNN's fused flash-attention engines, built with the
// cuDNN 9 backend graph API (core/cuda/cudnn_sdpa.cpp): the bf16 training path of
// CudaOps::attention_forward / attention_backward.
//
// Tensors (B batch, nh heads, S sequence, hd head dim), all device pointers:
//   qkv, dqkv  bf16 [B, S, 3, nh, hd]  (Q, K, V are strided views: no permute copies)
//   out, dout  bf16 [B, S, nh, hd]
//   stats      f32  [B, nh, S, 1]      logsumexp of each row of the scaled, masked scores
// Scale 1/√hd, causal (query i sees keys 0..i). Plans are built once per (device, direction, B, nh,
// S, hd) and cached; building failures throw trident::Error naming the graph and the shape.
// Everything runs on the device's compute stream; nothing blocks the host.
#pragma once

#include <cstdint>

#include "core/cuda/cuda_context.h"

namespace trident {

struct SdpaShape {
  std::int64_t batch = 0, heads = 0, seq = 0, head_dim = 0;
};

// Checks what cuDNN's fused engines need (hd a multiple of 8, at most 128 on sm_8x and 256 on
// sm_90, 16-byte aligned pointers are checked at run time) with a message naming `op`.
void cudnn_sdpa_check_shape(const char* op, const CudaContext& ctx, const SdpaShape& shape);

// out = softmax(mask(Q·Kᵀ/√hd))·V; stats = row logsumexp (what backward needs).
void cudnn_sdpa_forward(CudaContext& ctx, const SdpaShape& shape, const void* qkv, void* out, float* stats);

// dqkv (written) from dout, the forward's qkv, out and stats.
void cudnn_sdpa_backward(CudaContext& ctx, const SdpaShape& shape, const void* qkv, const void* out,
                         const void* dout, const float* stats, void* dqkv);

}  // namespace trident
