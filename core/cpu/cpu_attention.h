// What the CPU's flash-style attention core (cpu_attention.cpp) needs besides its tensors: the tile
// size and the per-thread working memory, so benchmarks and memory estimates can state it.
#pragma once

#include <cstdint>

namespace trident::cpu {

// Queries per tile = keys per tile.
inline constexpr std::int64_t kAttentionTile = 64;

// Bytes of per-thread scratch one attention call takes (the larger of forward and backward): a few
// tiles plus, in backward, one head's transposed Q and dO, [hd, S] each. Linear in S; there is no
// S x S buffer anywhere. The saved tensor is attention_saved_shape() = f32 [B, nh, S, 1].
std::int64_t attention_workspace_bytes(std::int64_t seq, std::int64_t head_dim);

}  // namespace trident::cpu
