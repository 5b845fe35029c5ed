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
    const DataParallel::Bucket& b = dp.buckets()[static_cast<std::size_t>(s.bucket)];
    const std::int64_t lo = std::max(s.begin, b.shard_begin), hi = std::min(s.begin + s.size, b.shard_begin + b.shard_size);
    if (lo < hi) segments_.push_back({s.bucket, lo - b.shard_begin, hi - lo, info[i].weight_decay, info[i].count_in_norm});
  }
}

double DistributedAdamW::grad_norm() {
  const Ops& ops = ops_for(Device::cpu());
  double local = 0.0;
  for (const Segment& s : segments_) {
    if (!s.count) continue;
    const Tensor g = dp_.reduced_grads(dp_.buckets()[static_cast<std::size_t>(s.bucket)]);
    local += ops.sum_squares(g.slice0(s.offset, s.offset + s.size));
  }
  // The sum travels as f32 (what the communicator reduces); replicas of plain DP are divided out.
  Tensor total = Tensor::empty({1});
  total.data<float>()[0] = static_cast<float>(local);
  if (world_ && world_->size() > 1) world_->all_reduce(total, ReduceOp::kSum);
  double sum = total.data<float>()[0];
  if (!dp_.zero1()) sum /= dp_.dp();
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
    const DataParallel::Bucket& b = dp_.buckets()[static_cast<std::size_t>(s.bucket)];
    const Ops& ops = ops_for(b.params.device());
    const std::int64_t at = b.shard_begin + s.offset;
    const Tensor g = dp_.reduced_grads(b).slice0(s.offset, s.offset + s.size);
    if (r.clip_scale != 1.0) ops.scale(g, static_cast<float>(r.clip_scale));
    AdamWParams p;
    p.lr = static_cast<float>(lr);
    p.beta1 = config_.beta1;
    p.beta2 = config_.beta2;
    p.eps = config_.eps;
    p.weight_decay = s.decay ? config_.weight_decay : 0.0f;
    p.step = steps_;
    ops.adamw_update(b.params.slice0(at, at + s.size), g, b.exp_avg.slice0(at, at + s.size),
                     b.exp_avg_sq.slice0(at, at + s.size), p);
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
