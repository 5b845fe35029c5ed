// Output layer and loss in the last chunk: logits = x·wteᵀ with the tied, vocab-split
// table, and Megatron's vocab-parallel cross-entropy, so the full [N, V] logits never exist on one
// rank: per-row max, sum-exp and target logit are reduced over TP instead.
//
// Forward:  x [n_local, h] --enter_region--> [N, h]; logits_r = x·wte_rᵀ [N, Vp/tp]
//           row_max (all_reduce max), sum_exp and target logit (all_reduce sum) -> losses [N]
// Backward: dlogits_r = dloss·(softmax_r − onehot_r); dx_partial = dlogits_r·wte_r [N, h]
//           --enter_region_backward--> dx [n_local, h];  dwte_r += dlogits_rᵀ·x (backward_weight)
#pragma once

#include "core/ops.h"
#include "layers/gpt_config.h"
#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

class VocabParallelHead {
 public:
  struct Saved {
    Tensor x;                // [N, h] (gathered under SP)
    Tensor targets;          // [N] i32
    Tensor logits;           // [N, Vp/tp]; becomes dlogits in backward_input
    Tensor row_max, sum_exp; // [N], reduced over TP
    float dloss = 0.0f;      // d(objective)/d(loss of one token)
    double loss_sum = 0.0;   // Σ token losses of the micro-batch
    template <typename F> void for_each(F&& f) const { f(x), f(targets), f(logits), f(row_max), f(sum_exp); }
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

 private:
  VocabShard vocab_shard() const;
  const TensorParallel& tp_;
  Parameter& wte_;
  std::int64_t vocab_;
};

}  // namespace trident
