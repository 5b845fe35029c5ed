// One chunk of the GPT — a contiguous run of blocks, plus the embedding if it is the first chunk and
// the final LayerNorm, output layer and loss if it is the last (the whole model when there is one
// chunk) — TP-sharded, with the micro-batch interface the pipeline executor drives. A pipeline stage
// holds v chunks (experiments/train/gpt_pipeline_stage.h):
//
//   forward(mb, input)      first chunk: input = token ids [B, S]; else hidden [n_local, h]
//                           last chunk: also targets; returns the hidden output (empty on the last)
//   backward_input(mb, dy)  last chunk: dy is ignored (the loss seeds it); returns d(input)
//                           (empty on the first chunk)
//   backward_weight(mb)     accumulates this micro-batch's weight gradients, frees its state
//
// Each micro-batch's saved activations live in a stash keyed by its id until backward_weight, so
// any schedule (GPipe, 1F1B, interleaved, zero-bubble with I and W apart) can drive it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "layers/gpt_config.h"
#include "layers/kv_cache.h"
#include "layers/layer_norm.h"
#include "layers/tensor_parallel.h"
#include "layers/transformer_block.h"
#include "layers/vocab_parallel_embedding.h"
#include "layers/vocab_parallel_head.h"
#include "parallel/data_parallel.h"

namespace trident {

// Which blocks a chunk holds, and whether it holds the embedding (first chunk) and the final
// LayerNorm, output layer and loss (last chunk).
struct ChunkLayout {
  std::int64_t first_layer = 0;
  std::int64_t num_layers = 0;
  bool has_embedding = true;
  bool has_head = true;

  static ChunkLayout whole(const GptConfig& config) { return {0, config.layers, true, true}; }
};

class GptChunk {
 public:
  // `tp_group` is the mesh's TP communicator (nullptr: tp = 1). Parameters are initialised from
  // config.seed; the model keeps references to nothing but the group.
  GptChunk(const GptConfig& config, const ChunkLayout& layout, Communicator* tp_group, TensorParallelOptions options,
           Device device = Device::cpu());
  ~GptChunk();

  Tensor forward(int mb, const Tensor& input, const Tensor& targets = Tensor(), float loss_scale = 1.0f);
  Tensor backward_input(int mb, const Tensor& dy = Tensor());
  void backward_weight(int mb);
  // backward_input then backward_weight.
  Tensor backward(int mb, const Tensor& dy = Tensor());
  // Drops micro-batch mb's saved state without a backward (evaluation: forward only).
  void release(int mb);

  // Mean token loss of micro-batch mb (last chunk, after its forward).
  double loss(int mb) const;

  // Generation with a KV cache (kv_cache.h; the chunk must be built without sequence parallelism).
  // make_kv_cache: empty caches for `batch` sequences of up to config.seq_len tokens.
  // forward_cached: the next T tokens of every sequence through this chunk, their keys and values
  // appended to `cache` (T = the input's tokens; cache.length grows by T):
  //   first chunk: input = ids [B, T] i32; others: input = hidden [B·T, h]
  //   returns hidden [B·T, h], or on the last chunk the logits of each sequence's last new token,
  //   host f32 [B, V], the same on every TP rank (collective over TP).
  KvCache make_kv_cache(std::int64_t batch);
  Tensor forward_cached(const Tensor& input, KvCache& cache);

  // Every parameter this rank holds, each once (the tied wte appears once on pp = 1).
  ParameterList parameters();
  // True for the last chunk's own copy of wte (the embedding's copy lives on another chunk): the
  // same parameter twice in the full model, so it is counted once (norms, counts, checkpoints).
  bool is_tied_copy(const Parameter* p) const { return head_wte_ && p == &*head_wte_; }
  // Called with each parameter whose gradient backward_weight has just accumulated one more
  // micro-batch into (per layer, as the backward goes). GradSync (parallel/grad_sync.h) counts
  // these to decide when a gradient is final, so its reduction can start during the backward.
  void set_grad_accumulated_hook(std::function<void(Parameter&)> hook) { grad_hook_ = std::move(hook); }
  // What the chunk is about to do with its parameters, reported to data parallelism (wired by the
  // pipeline stage): before_use(kForward / kBackward, params) before a layer's forward or
  // backward-input reads them (ZeRO-3 gathers them), end_pass() after each forward and backward-input
  // (ZeRO-3 frees what is still gathered), before_use(kAccumulate, params) before a layer's
  // backward-weight adds into their gradients (ZeRO-2/3 give them a buffer).
  struct ParamEvents {
    std::function<void(ParamUse, const ParameterList&)> before_use;
    std::function<void()> end_pass;
  };
  void set_param_events(ParamEvents events) { events_ = std::move(events); }
  Parameter* find(const std::string& name);
  void zero_grads();
  // Mixed precision: the GEMM weights (wte and every linear's weight; not biases, LayerNorms or
  // the position table, which ops read in f32) get copies in `dtype`, and activations follow that
  // dtype from the embedding on. f32 (the default) computes in the masters themselves.
  void set_compute_dtype(DType dtype);
  DType compute_dtype() const { return compute_dtype_; }
  // After the masters changed (optimizer step, checkpoint load): re-round the compute copies.
  void refresh_compute_copies();

  // Forward FLOPs of this rank for one micro-batch of `batch` sequences (matmuls, model FLOPs).
  double flops_forward(std::int64_t batch) const;
  // Bytes of activations kept for micro-batch mb right now (each storage counted once).
  std::int64_t stashed_bytes(int mb) const;
  std::size_t stashed_micro_batches() const { return stash_.size(); }

  const GptConfig& config() const { return config_; }
  const ChunkLayout& layout() const { return layout_; }
  const TensorParallel& tp() const { return *tp_; }

 private:
  struct MicroBatch;
  MicroBatch& state(int mb, const char* what);

  GptConfig config_;
  ChunkLayout layout_;
  std::unique_ptr<TensorParallel> tp_;
  std::optional<VocabParallelEmbedding> embedding_;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;
  std::optional<LayerNorm> ln_f_;
  std::optional<Parameter> head_wte_;  // the last chunk's own copy of wte when it has no embedding
  std::optional<VocabParallelHead> head_;
  std::map<int, std::unique_ptr<MicroBatch>> stash_;
  std::function<void(Parameter&)> grad_hook_;
  ParamEvents events_;
  void before_use(ParamUse use, const ParameterList& params) const {
    if (events_.before_use) events_.before_use(use, params);
  }
  void end_pass() const {
    if (events_.end_pass) events_.end_pass();
  }
  Parameter& head_wte() { return embedding_ ? embedding_->wte : *head_wte_; }
  // The parameters of one layer: a block's index, or the embedding (wte, wpe) or the head (ln_f and
  // the wte it reads).
  static constexpr int kEmbedding = -1, kHead = -2;
  ParameterList layer_params(int layer);
  DType compute_dtype_ = DType::kF32;
  // Bytes of compute copies labelled as weights in their allocator (set_compute_dtype).
  void label_compute_copies(std::int64_t bytes);
  std::int64_t copies_labelled_ = 0;
  Device copies_device_ = Device::cpu();
};

}  // namespace trident
