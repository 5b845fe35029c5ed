// Sampling continuations of a prompt from a trained GPT, on any pp × tp layout of ranks, with a KV
// cache (layers/kv_cache.h): the prompt runs through the model once (prefill), then each new token
// alone (decode), attending to the cached keys and values of all tokens before it.
//
// One step, on every rank of the mesh (dp = 1; pipeline stage p holds blocks split_layers(L, pp)[p]):
//   stage 0: ids [B, T] -> its blocks -> send hidden [B·T, h] to stage 1
//   stage p: receive, its blocks, send on          (T = prompt length at prefill, then 1)
//   last stage: logits [B, V] (gathered over TP, the same on each TP rank) -> the next token of each
//   sequence -> broadcast over the pipeline group, so every rank feeds the same tokens next.
// The stages run one after another, as autoregressive decoding must (no micro-batch overlap).
//
// Sampling (sample_token): temperature 0 is greedy (argmax, ties to the lower id); otherwise
// softmax(logits / temperature) over the top_k largest logits (0: all), drawn with a counter-based
// uniform keyed by (seed, sequence, position), so a seed gives the same text on every layout whose
// logits agree. Greedy decoding gives the same tokens under every layout (tested: serial, tp2, pp2).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "experiments/train/model_weights.h"
#include "layers/gpt_chunk.h"
#include "parallel/device_mesh.h"

namespace trident {

struct SamplingOptions {
  int max_new_tokens = 64;
  double temperature = 1.0;  // 0: greedy
  int top_k = 0;             // 0: the whole vocabulary
  std::uint64_t seed = 1234;
  int stop_token = -1;       // a sequence ends after producing it (the end-of-text id); -1: never
};

struct Generation {
  std::vector<std::vector<std::int32_t>> tokens;  // per sequence: the new tokens (the stop token included)
  std::int64_t prompt_tokens = 0;
  bool hit_context = false;    // stopped at model.seq_len before max_new_tokens
  double prefill_seconds = 0;  // the prompt's pass (and the first token's sampling)
  double decode_seconds = 0;   // every later token
  int decode_steps = 0;        // model passes after the prefill
};

// The next token from one sequence's logits (host f32 [V]); `index` picks the uniform draw.
// Throws on a non-finite logit (a diverged model), naming the position.
std::int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, std::uint64_t key,
                          std::uint64_t index);

class Generator {
 public:
  // Collective over `world` (size pp·tp, the device communicator of `device`): builds this rank's
  // stage of `model` (TP-sharded, no sequence parallelism) and loads its shards from `weights`.
  Generator(const GptConfig& model, const ModelWeights& weights, Communicator& world, int pp, int tp, Device device,
            DType compute_dtype);
  ~Generator();

  // Collective: `sequences` continuations of `prompt` (1 <= prompt.size() < model.seq_len, ids <
  // model.vocab; checked, naming the problem). Generation stops after max_new_tokens, when every
  // sequence has produced stop_token, or at the model's context (hit_context).
  Generation generate(const std::vector<std::int32_t>& prompt, int sequences, const SamplingOptions& options);

  const DeviceMesh& mesh() const { return mesh_; }

 private:
  // One pass of `tokens` new tokens per sequence (ids [B, tokens], used by stage 0) through this
  // stage's chunk; returns the logits [B, V] on the last stage, an empty tensor elsewhere.
  Tensor step(const Tensor& ids, std::int64_t tokens, KvCache& cache);

  GptConfig model_;
  Device device_;
  DType compute_dtype_;
  DeviceMesh mesh_;
  std::unique_ptr<GptChunk> chunk_;  // this stage's blocks (one chunk per stage)
};

}  // namespace trident
