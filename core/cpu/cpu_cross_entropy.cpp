// Cross-entropy from logits [N, Vp] whose first `vocab` columns are real; the padding columns
// (tensor-parallel vocab padding) never enter the softmax and get zero gradient.
#include <algorithm>
#include <cmath>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"

namespace trident {

namespace {

struct CeDims {
  std::int64_t n, vp;
};

CeDims check_ce(const char* op, const Tensor& logits, const Tensor& targets, std::int64_t vocab) {
  cpu::check_f32(op, "logits", logits);
  cpu::check_i32(op, "targets", targets);
  const std::int64_t vp = cpu::last_dim(op, "logits", logits);
  TRIDENT_CHECK(vocab >= 1 && vocab <= vp, op, ": vocab ", vocab, " must be in [1, ", vp, "] (logits ",
                logits.shape().str(), ")");
  const std::int64_t n = logits.numel() / vp;
  TRIDENT_CHECK(targets.numel() == n, op, ": targets ", targets.shape().str(), " should hold one id per row of logits ",
                logits.shape().str(), " (", n, " rows)");
  return {n, vp};
}

std::int32_t target_of(const char* op, const std::int32_t* targets, std::int64_t row, std::int64_t vocab) {
  const std::int32_t t = targets[row];
  TRIDENT_CHECK(t >= 0 && t < vocab, op, ": target ", t, " of row ", row, " is outside the vocabulary [0, ", vocab,
                ")");
  return t;
}

}  // namespace

// losses[n] = logsumexp(logits[n, :vocab]) - logits[n, targets[n]]
void CpuOps::cross_entropy_forward(const Tensor& logits, const Tensor& targets, std::int64_t vocab,
                                   const Tensor& losses) const {
  const char* op = "cross_entropy_forward";
  const CeDims d = check_ce(op, logits, targets, vocab);
  cpu::check_f32(op, "losses", losses);
  TRIDENT_CHECK(losses.numel() == d.n, op, ": losses ", losses.shape().str(),
                " should hold one value per row of logits ", logits.shape().str());
  const float* x = logits.data<float>();
  const std::int32_t* tg = targets.data<std::int32_t>();
  float* l = losses.data<float>();
  for (std::int64_t r = 0; r < d.n; ++r) {
    const float* row = x + r * d.vp;
    const std::int32_t t = target_of(op, tg, r, vocab);
    const float m = cpu::lane_max(row, vocab);  // logsumexp = m + log Σ exp(x - m), stable
    l[r] = m + std::log(cpu::exp_sum<false>(row, m, vocab, nullptr)) - row[t];
  }
}

// dlogits[n, :vocab] = dloss · (softmax(logits[n, :vocab]) - onehot(t)); dlogits[n, vocab:] = 0.
void CpuOps::cross_entropy_backward(const Tensor& logits, const Tensor& targets, std::int64_t vocab, float dloss,
                                    const Tensor& dlogits) const {
  const char* op = "cross_entropy_backward";
  const CeDims d = check_ce(op, logits, targets, vocab);
  cpu::check_f32(op, "dlogits", dlogits);
  cpu::check_same_shape(op, "logits", logits, "dlogits", dlogits);
  const float* x = logits.data<float>();
  const std::int32_t* tg = targets.data<std::int32_t>();
  float* g = dlogits.data<float>();
  for (std::int64_t r = 0; r < d.n; ++r) {
    const float* row = x + r * d.vp;
    float* grow = g + r * d.vp;
    const std::int32_t t = target_of(op, tg, r, vocab);
    const float m = cpu::lane_max(row, vocab);
    const float k = dloss / cpu::exp_sum<true>(row, m, vocab, grow);  // grow holds exp(x - m) until scaled
    for (std::int64_t j = 0; j < vocab; ++j) grow[j] *= k;
    grow[t] -= dloss;
    std::fill(grow + vocab, grow + d.vp, 0.0f);
  }
}

}  // namespace trident
