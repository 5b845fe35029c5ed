// Host memory blocks kept for reuse, by size. A training step frees and reallocates the same
// activation sizes every step (per layer, per micro-batch), so after the first step every CPU tensor
// is served from blocks the previous step released: no malloc, no fresh pages, on the hot path.
// The CPU allocator (core/allocator.cpp) draws from here; it still counts only bytes that tensors
// hold, so MemoryStats are unchanged.
//
// Blocks are keyed by their exact 64-byte-rounded size. The cache keeps at most as many bytes as
// tensors ever held at once (at least 64 MiB): a steady training loop fits, and a workload whose
// sizes keep changing (growing sequences) frees the surplus instead of hoarding it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trident::cpu {

struct HostCacheStats {
  std::int64_t hits = 0;          // allocations served from a cached block
  std::int64_t misses = 0;        // allocations that went to the system (aligned_alloc)
  std::int64_t cached_bytes = 0;  // bytes held for reuse now (not in any tensor)
};

// A 64-byte aligned block of `bytes` (a multiple of 64): a cached one of that size, else a fresh one.
void* host_block_take(std::size_t bytes);
// Returns a block from host_block_take for reuse (or to the system when the cache is full).
void host_block_give(void* block, std::size_t bytes);
HostCacheStats host_cache_stats();

}  // namespace trident::cpu
