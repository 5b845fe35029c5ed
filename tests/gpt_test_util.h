// Shared helpers of the GPT tests: small configs and deterministic batches.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "layers/gpt_chunk.h"
#include "layers/gpt_config.h"
#include "parallel/grad_sync.h"

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

// Gradient sync for one chunk run on its own (no pipeline, no data parallelism): the chunk's hook
// reports to the returned GradSync, which reduces TP-partial gradients over the chunk's TP group.
// Call start_step(m) before the micro-batches and finish() after; keep it alive meanwhile.
inline std::unique_ptr<GradSync> wire_grad_sync(GptChunk& m) {
  auto index = std::make_shared<std::map<const Parameter*, int>>();
  std::vector<GradSyncTensor> tensors;
  for (Parameter* p : m.parameters()) {
    index->emplace(p, static_cast<int>(tensors.size()));
    tensors.push_back({&p->grad, p->grad_is_tp_partial, false, p->name()});
  }
  auto sync = std::make_unique<GradSync>(std::move(tensors), m.tp().group(), nullptr, nullptr);
  GradSync* target = sync.get();
  m.set_grad_accumulated_hook([index, target](Parameter& p) { target->accumulated(index->at(&p)); });
  return sync;
}

}  // namespace trident::testing_util
