#include "experiments/train/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "experiments/plan/plan.h"

namespace trident {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr int kHiddenTag = 11;  // pipeline P2P of the hidden states

// The blocks of stage p of pp, each with the embedding (first) or head (last) as training cuts them.
ChunkLayout stage_layout(const GptConfig& model, int pp, int stage) {
  const std::vector<std::int64_t> counts = split_layers(model.layers, pp);
  const std::int64_t first = std::accumulate(counts.begin(), counts.begin() + stage, std::int64_t{0});
  return {first, counts[static_cast<std::size_t>(stage)], stage == 0, stage == pp - 1};
}

}  // namespace

std::int32_t sample_token(std::span<const float> logits, const SamplingOptions& o, std::uint64_t key,
                          std::uint64_t index) {
  const auto v = static_cast<std::int64_t>(logits.size());
  for (std::int64_t i = 0; i < v; ++i)
    TRIDENT_CHECK(std::isfinite(logits[static_cast<std::size_t>(i)]), "generate: logit of token ", i, " is ",
                  logits[static_cast<std::size_t>(i)], ": the model's weights are not finite");
  // Candidates by logit, largest first, ties to the lower id: argmax is the first.
  std::vector<std::int32_t> order(static_cast<std::size_t>(v));
  std::iota(order.begin(), order.end(), 0);
  const std::int64_t k = o.temperature <= 0 ? 1 : (o.top_k > 0 ? std::min<std::int64_t>(o.top_k, v) : v);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  });
  if (k == 1) return order.front();
  // softmax(logit / T) over the candidates, in double; the draw walks the cumulative sum.
  const double top = logits[static_cast<std::size_t>(order.front())];
  std::vector<double> p(static_cast<std::size_t>(k));
  double total = 0.0;
  for (std::int64_t i = 0; i < k; ++i)
    total += p[static_cast<std::size_t>(i)] =
        std::exp((logits[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] - top) / o.temperature);
  const double u = rng_uniform(key, index) * total;
  double c = 0.0;
  for (std::int64_t i = 0; i < k; ++i)
    if ((c += p[static_cast<std::size_t>(i)]) > u) return order[static_cast<std::size_t>(i)];
  return order[static_cast<std::size_t>(k - 1)];  // u rounded up to the total
}

Generator::Generator(const GptConfig& model, const ModelWeights& weights, Communicator& world, int pp, int tp,
                     Device device, DType compute_dtype)
    : model_(model), device_(device), compute_dtype_(compute_dtype), mesh_(world, MeshLayout(1, pp, tp)) {
  const int stage = mesh_.coord().pp;
  chunk_ = std::make_unique<GptChunk>(model_, stage_layout(model_, pp, stage), &mesh_.tp_group(),
                                      TensorParallelOptions{}, device_);
  chunk_->set_compute_dtype(compute_dtype_);
  weights.load(chunk_->parameters());  // each rank its own shards, straight from the files
  chunk_->refresh_compute_copies();
  mesh_.pp_group().connect_ring_neighbors();
}

Generator::~Generator() = default;

Tensor Generator::step(const Tensor& ids, std::int64_t tokens, KvCache& cache) {
  Communicator& pp = mesh_.pp_group();
  const int stage = mesh_.coord().pp, stages = mesh_.layout().pp();
  Tensor input = ids;
  if (stage > 0) {
    input = Tensor::empty({cache.batch * tokens, model_.hidden}, compute_dtype_, device_);
    pp.recv(input, stage - 1, kHiddenTag).wait();
  }
  Tensor out = chunk_->forward_cached(input, cache);
  if (stage + 1 < stages) {
    pp.send(out, stage + 1, kHiddenTag).wait();
    return Tensor();
  }
  return out;
}

Generation Generator::generate(const std::vector<std::int32_t>& prompt, int sequences, const SamplingOptions& o) {
  const auto n = static_cast<std::int64_t>(prompt.size());
  TRIDENT_CHECK(n >= 1, "generate: the prompt is empty; give at least one token");
  TRIDENT_CHECK(n < model_.seq_len, "generate: the prompt has ", n, " tokens but the model's context is ",
                model_.seq_len, " (model.seq_len): at most ", model_.seq_len - 1, " prompt tokens leave room to generate");
  for (std::int64_t i = 0; i < n; ++i)
    TRIDENT_CHECK(prompt[static_cast<std::size_t>(i)] >= 0 && prompt[static_cast<std::size_t>(i)] < model_.vocab,
                  "generate: prompt token ", i, " is ", prompt[static_cast<std::size_t>(i)],
                  ", outside the model's vocabulary [0, ", model_.vocab, "): the tokenizer does not fit this model");
  TRIDENT_CHECK(sequences >= 1 && o.max_new_tokens >= 1, "generate: needs sequences >= 1 and max_new_tokens >= 1");
  const bool last_stage = mesh_.is_last_stage();
  const std::int64_t room = model_.seq_len - n;
  const std::int64_t steps = std::min<std::int64_t>(o.max_new_tokens, room);
  const std::uint64_t key = rng_key(o.seed, "generate");

  Generation g;
  g.prompt_tokens = n;
  g.tokens.assign(static_cast<std::size_t>(sequences), {});
  KvCache cache = chunk_->make_kv_cache(sequences);
  // ids [B, T] for stage 0: the prompt in every row, then each sequence's last token.
  Tensor ids = Tensor::empty({sequences, n}, DType::kI32);
  for (int b = 0; b < sequences; ++b) std::copy(prompt.begin(), prompt.end(), ids.data<std::int32_t>() + b * n);
  Tensor next = Tensor::empty({sequences}, DType::kI32, device_);  // broadcast over the pipeline group
  std::vector<bool> done(static_cast<std::size_t>(sequences), false);
  bool all_done = false;
  Clock::time_point t0 = Clock::now();
  for (std::int64_t s = 0; s < steps && !all_done; ++s) {
    const Tensor logits = step(ids.to(device_), ids.dim(1), cache);
    if (last_stage) {
      Tensor host = Tensor::empty({sequences}, DType::kI32);
      for (int b = 0; b < sequences; ++b) {
        // One draw per (sequence, position): the same sample whatever the batch size around it.
        const std::uint64_t index = static_cast<std::uint64_t>(b) * static_cast<std::uint64_t>(model_.seq_len) +
                                    static_cast<std::uint64_t>(n + s);
        host.data<std::int32_t>()[b] =
            sample_token({logits.data<float>() + b * model_.vocab, static_cast<std::size_t>(model_.vocab)}, o, key, index);
      }
      next.copy_from(host);
    }
    mesh_.pp_group().broadcast(next, mesh_.layout().pp() - 1);
    const Tensor chosen = next.to(Device::cpu());
    all_done = true;
    for (int b = 0; b < sequences; ++b) {
      const std::int32_t t = chosen.data<std::int32_t>()[b];
      if (!done[static_cast<std::size_t>(b)]) g.tokens[static_cast<std::size_t>(b)].push_back(t);
      done[static_cast<std::size_t>(b)] = done[static_cast<std::size_t>(b)] || t == o.stop_token;
      all_done = all_done && done[static_cast<std::size_t>(b)];
    }
    ids = chosen.view({sequences, 1});
    if (s == 0) {
      g.prefill_seconds = since(t0);
      t0 = Clock::now();
    } else {
      ++g.decode_steps;
    }
  }
  g.decode_seconds = g.decode_steps > 0 ? since(t0) : 0.0;
  g.hit_context = !all_done && steps < o.max_new_tokens;  // the context, not max_new_tokens, ended it
  return g;
}

}  // namespace trident
