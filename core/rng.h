// Deterministic random numbers keyed by (seed, stream name, element index).
//
// A parameter's initial value is normal(seed, "h.3.attn.c_attn.weight", i) where i is the flat
// index of the element in the *full, unsharded* tensor. Sharding never enters the formula, so the
// shard a rank initialises is exactly the slice of the full tensor the serial run initialises.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/philox.h"

namespace trident {

// 64-bit key from a seed and a stream name (FNV-1a of the name, mixed with the seed by splitmix64).
std::uint64_t rng_key(std::uint64_t seed, std::string_view stream);

// Philox block for (key, index): four independent 32-bit words.
inline Philox4x32 rng_block(std::uint64_t key, std::uint64_t index, std::uint32_t lane = 0) {
  return philox4x32_10(Philox4x32{{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), lane, 0u}},
                       static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32));
}

// Uniform in [0, 1) with 53 random bits.
double rng_uniform(std::uint64_t key, std::uint64_t index);
// Standard normal by Box–Muller on one Philox block (double precision, then rounded by the caller).
double rng_normal(std::uint64_t key, std::uint64_t index);

}  // namespace trident
