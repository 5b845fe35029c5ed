// Output layer and loss in the last chunk: logits = x·wteᵀ with the tied, vocab-split
// table, and Megatron's vocab-parallel cross-entropy, so the full [N, V] logits never exist on one
// rank: per-row max, sum-exp and target logit are reduced over TP instead.
//
// Forward:  x [n_local, h] --enter_region--> [N, h]; logits_r = x·wte_rᵀ [N, Vp/tp]
//           row_max (all_reduce max), sum_exp and target logit (all_reduce sum) -> losses [N]
//           dlogits_r = dloss·(softmax_r − onehot_r), written over logits_r
// Backward: dx_partial = dlogits_r·wte_r [N, h] --enter_region_backward--> dx [n_local, h];
//           dwte_r += dlogits_rᵀ·x (backward_weight; under SP x is kept as this rank's tokens
//           [n_local, h] and gathered again here)
//
// The logits' gradient is computed in forward, while the logits are hot and dloss is known: with
// tp = 1 the loss and the gradient come out of one pass per row (cross_entropy_fused), with tp > 1
// the gradient is one more in-place pass after the reductions. Backward is then GEMMs only, and
// no [N, Vp/tp] buffer besides the logits ever exists. (An evaluation forward pays for the gradient
// too: one more write of the logits.)
#pragma once

#include "core/ops.h"
#include "layers/gpt_config.h"
#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

class VocabParallelHead {
 public:
  struct Saved {
    Tensor x;                // [n_local, h]: this rank's tokens (gathered again for dwte under SP)
    Tensor targets;          // [N] i32
    Tensor logits;           // [N, Vp/tp]: overwritten by dlogits at the end of forward
    float dloss = 0.0f;      // d(objective)/d(loss of one token)
    double loss_sum = 0.0;   // Σ token losses of the micro-batch
    template <typename F> void for_each(F&& f) const { f(x), f(targets), f(logits); }
  };

  // `wte` is the embedding's table (pp = 1) or the last chunk's own copy.
  VocabParallelHead(const GptConfig& config, const TensorParallel& tp, Parameter& wte);

  // x [n_local, h], targets [B, S] i32. The objective this micro-batch contributes is
  // loss_scale · mean over its tokens of the loss (loss_scale = 1/micro-batches makes the
  // accumulated gradient that of the mean over the whole batch). Returns the mean token loss.
  double forward(const Tensor& x, const Tensor& targets, float loss_scale, Saved& s) const;
  Tensor backward_input(Saved& s) const;  // -> dx [n_local, h]
  void backward_weight(Saved& s);

  double flops_forward(std::int64_t tokens) const;  // 2·N·h·Vp/tp

  // Generation (kv_cache.h): the full logits of x [n, h] (final-LayerNorm output, replicated over
  // TP) -> host f32 [n, V]. Each rank's [n, Vp/tp] columns are all-gathered over TP (collective)
  // and the vocabulary padding dropped, so every TP rank returns the same logits.
  Tensor full_logits(const Tensor& x) const;

 private:
  VocabShard vocab_shard() const;
  const TensorParallel& tp_;
  Parameter& wte_;
  std::int64_t vocab_;
};

}  // namespace trident
