// What fused (flash) attention keeps for its backward: one softmax statistic (the row's
// log-sum-exp) per query row, f32 [B, nh, S, 1], instead of the [B, nh, S, S] probabilities. The
// CUDA op table (cuDNN SDPA) allocates this, and so does a meta device modelling a GPU.
#pragma once

#include <cstdint>

#include "core/shape.h"

namespace trident {

inline Shape fused_attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) {
  return Shape{batch, heads, seq, 1};
}

}  // namespace trident
