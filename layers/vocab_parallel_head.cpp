#include "layers/vocab_parallel_head.h"

#include <algorithm>

#include "core/ops.h"

namespace trident {

VocabParallelHead::VocabParallelHead(const GptConfig& c, const TensorParallel& tp, Parameter& wte)
    : tp_(tp), wte_(wte), vocab_(c.vocab) {}

VocabShard VocabParallelHead::vocab_shard() const {
  // This rank's rows of the padded table; those at or past V are padding.
  const std::int64_t rows = wte_.value.dim(0), begin = wte_.spec().ranges(0).front().begin;
  return {begin, std::max<std::int64_t>(0, std::min(rows, vocab_ - begin)), vocab_};
}

double VocabParallelHead::forward(const Tensor& x, const Tensor& targets, float loss_scale, Saved& s) const {
  const Ops& ops = ops_for(x.device());
  s.x = x.as_2d();  // this rank's tokens: backward_weight gathers them again under SP
  const Tensor full = tp_.enter_region(s.x);
  const std::int64_t tokens = full.dim(0);
  TRIDENT_CHECK(targets.dtype() == DType::kI32 && targets.numel() == tokens, "loss: targets ", targets.shape().str(),
                " ", dtype_name(targets.dtype()), " should be i32 with one id per token (", tokens, ")");
  s.targets = targets.view({tokens});
  s.dloss = loss_scale / static_cast<float>(tokens);
  const VocabShard shard = vocab_shard();
  // Logits in the activation dtype (bf16 under mixed precision; the GEMM accumulates in f32); the
  // cross-entropy statistics below are f32 whatever the logits are.
  s.logits = Tensor::empty({tokens, wte_.value.dim(0)}, s.x.dtype(), x.device());
  ops.gemm(false, true, 1.0f, full, wte_.for_compute(), 0.0f, s.logits);
  Tensor losses = Tensor::empty({tokens}, DType::kF32, x.device());
  if (tp_.size() == 1) {
    ops.cross_entropy_fused(s.logits, s.targets, shard, s.dloss, losses);
  } else {
    // row_max, then sum_exp and the target logit in one buffer: one all-reduce instead of two.
    Tensor stats = Tensor::empty({3, tokens}, DType::kF32, x.device());
    const Tensor row_max = stats.slice0(0, 1).view({tokens});
    const Tensor sums = stats.slice0(1, 3);
    const Tensor sum_exp = sums.slice0(0, 1).view({tokens}), target_logit = sums.slice0(1, 2).view({tokens});
    ops.cross_entropy_row_max(s.logits, shard, row_max);
    tp_.all_reduce(row_max, ReduceOp::kMax);
    ops.cross_entropy_sums(s.logits, s.targets, shard, row_max, sum_exp, target_logit);
    tp_.all_reduce(sums);
    ops.cross_entropy_losses(row_max, sum_exp, target_logit, losses);
    ops.cross_entropy_backward(s.logits, s.targets, shard, row_max, sum_exp, s.dloss, s.logits);  // in place
  }
  s.loss_sum = ops.sum(losses);
  return s.loss_sum / static_cast<double>(tokens);
}

Tensor VocabParallelHead::backward_input(Saved& s) const {
  Tensor dx = Tensor::empty({s.logits.dim(0), s.x.dim(1)}, s.x.dtype(), s.x.device());
  ops_for(s.x.device()).gemm(false, false, 1.0f, s.logits, wte_.for_compute(), 0.0f, dx);  // logits hold dlogits
  return tp_.enter_region_backward(dx);
}

void VocabParallelHead::backward_weight(Saved& s) {
  ops_for(s.x.device()).gemm(true, false, 1.0f, s.logits, tp_.enter_region(s.x), 1.0f, wte_.grad);
  s = Saved{};
}

double VocabParallelHead::flops_forward(std::int64_t tokens) const {
  return 2.0 * static_cast<double>(tokens) * static_cast<double>(wte_.spec().local_shape()[1]) *
         static_cast<double>(wte_.spec().local_shape()[0]);
}

}  // namespace trident
