// Generation with a KV cache: each new token runs through the model alone, attending to the keys
// and values its predecessors left in the cache, so a sequence of n tokens costs O(n) layer passes
// instead of the O(n²) of recomputing the prefix for every token. The methods are the inference
// forwards of the layers (declared next to their training forwards, defined in kv_cache.cpp):
//
//   VocabParallelEmbedding::forward_at   ids [B, T] at positions [p, p+T) -> x [B·T, h]
//   TransformerBlock::forward_cached     x [B·T, h] -> [B·T, h]: LN, QKV, attention_cached (the op
//                                        appends k, v and attends over [0, p+T)), proj, LN, MLP
//   VocabParallelHead::full_logits       last tokens' [B, h] -> logits [B, V], gathered over TP
//   GptChunk::forward_cached             a chunk's blocks in order, one KvCache per chunk
//
// Tensor parallelism is Megatron's, as in training, without sequence parallelism (T may be 1):
// each rank caches its nh/tp heads. Nothing is kept for a backward.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace trident {

struct KvCache {
  struct Layer {
    Tensor k, v;  // [B, nh/tp, C, hd], the compute dtype; rows [0, length) hold the tokens so far
  };
  std::vector<Layer> layers;  // one per block of the chunk, in order
  std::int64_t batch = 0;     // B sequences
  std::int64_t capacity = 0;  // C positions (model.seq_len: the learned position table's rows)
  std::int64_t length = 0;    // positions filled; the next tokens go to [length, length + T)
};

}  // namespace trident
