// Vocab-parallel cross-entropy (see core/ops.h): each rank sees logits [N, Vl] for vocab ids
// [shard.begin, shard.begin + Vl) whose first shard.valid columns are real. The padding columns
// never enter the max or the sum and get zero gradient; the cross-rank reductions happen between
// these ops, so each op only ever touches its own shard.
#include <algorithm>
#include <cmath>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"
#include "core/cross_entropy_checks.h"

namespace trident {

namespace {

using CeDims = CrossEntropyDims;

// logits [.., Vl] f32 against a shard that fits both the tensor and the vocabulary; returns N and Vl.
CeDims check_logits(const char* op, const Tensor& logits, const VocabShard& shard) {
  cpu::check_f32(op, "logits", logits);
  return check_vocab_shard(op, logits, shard);
}

// A per-row f32 tensor (row_max, sum_exp, ...) with one value per row of logits.
void check_rows(const char* op, const char* name, const Tensor& t, std::int64_t n) {
  cpu::check_f32(op, name, t);
  check_one_per_row(op, name, t, n);
}

// targets i32 with one id per row; every id must be in [0, vocab) whichever rank holds it, so a bad
// target fails on all ranks alike instead of silently contributing nothing.
const std::int32_t* check_targets(const char* op, const Tensor& targets, std::int64_t n, std::int64_t vocab) {
  cpu::check_i32(op, "targets", targets);
  check_one_target_per_row(op, targets, n);
  const std::int32_t* tg = targets.data<std::int32_t>();
  for (std::int64_t r = 0; r < n; ++r)
    TRIDENT_CHECK(tg[r] >= 0 && tg[r] < vocab, op, ": target ", tg[r], " of row ", r,
                  " is outside the vocabulary [0, ", vocab, ")");
  return tg;
}

}  // namespace

// row_max[n] = max over the real local columns (-inf when the shard is all padding).
void CpuOps::cross_entropy_row_max(const Tensor& logits, const VocabShard& shard, const Tensor& row_max) const {
  const char* op = "cross_entropy_row_max";
  const CeDims d = check_logits(op, logits, shard);
  check_rows(op, "row_max", row_max, d.n);
  const float* x = logits.data<float>();
  float* m = row_max.data<float>();
  cpu::parallel_for(d.n, cpu::row_grain(d.vl), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) m[r] = cpu::lane_max(x + r * d.vl, shard.valid);
  });
}

// sum_exp[n] = Σ_real exp(logit − row_max[n]) with the global row_max; target_logit[n] is the
// target's logit when this shard holds it, else 0, so summing over ranks yields the one real value.
void CpuOps::cross_entropy_sums(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit) const {
  const char* op = "cross_entropy_sums";
  const CeDims d = check_logits(op, logits, shard);
  check_rows(op, "row_max", row_max, d.n);
  check_rows(op, "sum_exp", sum_exp, d.n);
  check_rows(op, "target_logit", target_logit, d.n);
  const std::int32_t* tg = check_targets(op, targets, d.n, shard.vocab);
  const float* x = logits.data<float>();
  const float* m = row_max.data<float>();
  float* s = sum_exp.data<float>();
  float* tl = target_logit.data<float>();
  cpu::parallel_for(d.n, cpu::row_grain(d.vl), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* row = x + r * d.vl;
      s[r] = cpu::exp_sum<false>(row, m[r], shard.valid, nullptr);
      const std::int64_t local = tg[r] - shard.begin;
      tl[r] = local >= 0 && local < shard.valid ? row[local] : 0.0f;
    }
  });
}

// losses[n] = log(sum_exp[n]) + row_max[n] − target_logit[n]: logsumexp minus the target's logit.
void CpuOps::cross_entropy_losses(const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit,
                                  const Tensor& losses) const {
  const char* op = "cross_entropy_losses";
  cpu::check_f32(op, "row_max", row_max);
  const std::int64_t n = row_max.numel();
  check_rows(op, "sum_exp", sum_exp, n);
  check_rows(op, "target_logit", target_logit, n);
  check_rows(op, "losses", losses, n);
  const float* m = row_max.data<float>();
  const float* s = sum_exp.data<float>();
  const float* tl = target_logit.data<float>();
  float* l = losses.data<float>();
  for (std::int64_t r = 0; r < n; ++r) l[r] = std::log(s[r]) + m[r] - tl[r];
}

// dlogits[n, j] = dloss · (exp(logit − row_max) / sum_exp − onehot) on real columns, 0 on padding.
// One pass per row: each exponential is computed once and scaled straight into dlogits, which may
// be logits itself (each element is read before it is written).
void CpuOps::cross_entropy_backward(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                    const Tensor& row_max, const Tensor& sum_exp, float dloss,
                                    const Tensor& dlogits) const {
  const char* op = "cross_entropy_backward";
  const CeDims d = check_logits(op, logits, shard);
  check_rows(op, "row_max", row_max, d.n);
  check_rows(op, "sum_exp", sum_exp, d.n);
  cpu::check_f32(op, "dlogits", dlogits);
  cpu::check_same_shape(op, "logits", logits, "dlogits", dlogits);
  const std::int32_t* tg = check_targets(op, targets, d.n, shard.vocab);
  const float* x = logits.data<float>();
  const float* m = row_max.data<float>();
  const float* s = sum_exp.data<float>();
  float* g = dlogits.data<float>();
  cpu::parallel_for(d.n, cpu::row_grain(d.vl), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* row = x + r * d.vl;
      float* grow = g + r * d.vl;
      const float shift = m[r], k = dloss / s[r];
      for (std::int64_t j = 0; j < shard.valid; ++j) grow[j] = k * cpu::fast_exp(row[j] - shift);
      const std::int64_t local = tg[r] - shard.begin;
      if (local >= 0 && local < shard.valid) grow[local] -= dloss;
      std::fill(grow + shard.valid, grow + d.vl, 0.0f);
    }
  });
}

// tp = 1: per row, while the row is in L1/L2 — max, exponentials written in place with their sum,
// the loss from the target's logit (read first), then the exponentials scaled into the gradient.
// The same arithmetic as row_max + sums + losses + backward, so the two paths agree bit for bit.
void CpuOps::cross_entropy_fused(const Tensor& logits, const Tensor& targets, const VocabShard& shard, float dloss,
                                 const Tensor& losses) const {
  const char* op = "cross_entropy_fused";
  const CeDims d = check_logits(op, logits, shard);
  TRIDENT_CHECK(shard.begin == 0 && shard.valid == shard.vocab, op, ": the shard [", shard.begin, ", ",
                shard.begin + shard.valid, ") is not the whole vocabulary of ", shard.vocab,
                "; a vocab-parallel (tp > 1) loss needs row_max / sums / losses / backward with the reductions between");
  check_rows(op, "losses", losses, d.n);
  const std::int32_t* tg = check_targets(op, targets, d.n, shard.vocab);
  float* x = logits.data<float>();
  float* l = losses.data<float>();
  cpu::parallel_for(d.n, cpu::row_grain(d.vl), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      float* row = x + r * d.vl;
      const float m = cpu::lane_max(row, shard.valid);
      const float target = row[tg[r]];
      const float s = cpu::exp_sum<true>(row, m, shard.valid, row);
      l[r] = std::log(s) + m - target;
      const float k = dloss / s;
      for (std::int64_t j = 0; j < shard.valid; ++j) row[j] = k * row[j];
      row[tg[r]] -= dloss;
      std::fill(row + shard.valid, row + d.vl, 0.0f);
    }
  });
}

}  // namespace trident
