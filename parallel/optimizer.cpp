#include "parallel/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace trident {

DistributedAdamW::DistributedAdamW(DataParallel& dp, std::vector<OptimizerTensorInfo> info, Communicator* world,
                                   AdamWConfig config)
    : dp_(dp), world_(world), config_(config) {
  TRIDENT_CHECK(info.size() == dp.size(), "optimizer: ", info.size(), " tensor infos for ", dp.size(), " tensors");
  for (std::size_t i = 0; i < dp.size(); ++i) {
    const DataParallel::Slot& s = dp.slot(static_cast<int>(i));
    const std::int64_t begin = dp.shard_begin(s.bucket), end = begin + dp.shard_size(s.bucket);
    const std::int64_t lo = std::max(s.begin, begin), hi = std::min(s.begin + s.size, end);
    if (lo < hi) segments_.push_back({s.bucket, lo - begin, hi - lo, info[i].weight_decay, info[i].count_in_norm});
  }
}

double DistributedAdamW::grad_norm() {
  double local = 0.0;
  for (const Segment& s : segments_) {
    if (!s.count) continue;
    const Tensor g = dp_.grad_shard(s.bucket);
    // Summed where the gradients live (a GPU's table returns the sum to the host: one sync each).
    local += ops_for(g.device()).sum_squares(g.slice0(s.offset, s.offset + s.size));
  }
  // The sum travels as f32 (what the communicator reduces); replicas of plain DP are divided out.
  Tensor total = Tensor::empty({1});
  total.data<float>()[0] = static_cast<float>(local);
  if (world_ && world_->size() > 1) world_->all_reduce(total, ReduceOp::kSum);
  double sum = total.data<float>()[0];
  if (dp_.zero() == 0) sum /= dp_.dp();
  return std::sqrt(sum);
}

OptimizerStepResult DistributedAdamW::step(double lr, bool loss_is_finite) {
  OptimizerStepResult r;
  r.grad_norm = grad_norm();
  if (!loss_is_finite || !std::isfinite(r.grad_norm)) {
    r.skipped = true;
    return r;
  }
  if (config_.grad_clip > 0 && r.grad_norm > config_.grad_clip) r.clip_scale = config_.grad_clip / (r.grad_norm + 1e-6);
  ++steps_;
  for (const Segment& s : segments_) {
    const Tensor g = dp_.grad_shard(s.bucket).slice0(s.offset, s.offset + s.size);
    const Ops& ops = ops_for(g.device());
    if (r.clip_scale != 1.0) ops.scale(g, static_cast<float>(r.clip_scale));
    AdamWParams p;
    p.lr = static_cast<float>(lr);
    p.beta1 = config_.beta1;
    p.beta2 = config_.beta2;
    p.eps = config_.eps;
    p.weight_decay = s.decay ? config_.weight_decay : 0.0f;
    p.step = steps_;
    const std::int64_t lo = s.offset, hi = s.offset + s.size;
    ops.adamw_update(dp_.param_shard(s.bucket).slice0(lo, hi), g, dp_.exp_avg_shard(s.bucket).slice0(lo, hi),
                     dp_.exp_avg_sq_shard(s.bucket).slice0(lo, hi), p);
  }
  dp_.gather_params();
  return r;
}

double learning_rate(std::int64_t step, std::int64_t warmup, std::int64_t total, double max_lr, double min_lr) {
  if (step < warmup) return max_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (total <= warmup) return max_lr;
  const double progress = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(total - warmup), 0.0, 1.0);
  return min_lr + 0.5 * (1.0 + std::cos(std::numbers::pi * progress)) * (max_lr - min_lr);
}

}  // namespace trident
