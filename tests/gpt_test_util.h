// Shared helpers of the GPT tests: small configs and deterministic batches.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"
#include "layers/gpt_config.h"

namespace trident::testing_util {

// A config small enough for finite differences but with every feature exercised: several heads,
// two blocks, a vocabulary that no tp in {2, 4} divides (padding), init scaled up so gradients are
// far from zero.
inline GptConfig tiny_config() {
  GptConfig c;
  c.layers = 2;
  c.hidden = 16;
  c.heads = 4;
  c.seq_len = 8;
  c.vocab = 23;
  c.init_std = 0.2f;
  c.seed = 7;
  return c;
}

// Token ids [batch, S] drawn from (seed, stream), in [0, vocab).
inline Tensor random_tokens(std::int64_t batch, const GptConfig& c, std::uint64_t seed, const char* stream) {
  Tensor t = Tensor::empty({batch, c.seq_len}, DType::kI32);
  const std::uint64_t key = rng_key(seed, stream);
  for (std::int64_t i = 0; i < t.numel(); ++i)
    t.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng_uniform(key, static_cast<std::uint64_t>(i)) *
                                                          static_cast<double>(c.vocab));
  return t;
}

}  // namespace trident::testing_util
