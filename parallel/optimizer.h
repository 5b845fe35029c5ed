// AdamW over data parallelism's flat buckets, with the global gradient-norm clip.
//
// Each rank updates what it owns: with plain DP every bucket whole (every DP replica computes the
// same update), under ZeRO (any stage) only its shard of each bucket, from its shard of the
// averaged gradients and of the moments; DataParallel then all-gathers the parameters (ZeRO-1/2)
// or gathers them before their next use (ZeRO-3).
//
// The global norm is the norm of the one full-model gradient: every tensor counted once. Tensors
// replicated over TP count only on TP rank 0, a second copy of a tied weight not at all (the
// model says which, `count_in_norm`), and DP replicas are divided out (plain DP: each replica holds
// the same averaged gradient) or add up disjoint shards (ZeRO). A non-finite norm or loss skips
// the step on every rank alike: the norm is reduced over the world, the loss flag is the caller's.
#pragma once

#include <vector>

#include "core/ops.h"
#include "parallel/data_parallel.h"

namespace trident {

struct OptimizerTensorInfo {
  bool weight_decay = false;  // decoupled weight decay applies (matrices and embeddings)
  bool count_in_norm = true;
};

struct AdamWConfig {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;
  double grad_clip = 1.0;  // 0: no clipping
};

struct OptimizerStepResult {
  double grad_norm = 0.0;   // before clipping
  double clip_scale = 1.0;  // gradients were multiplied by this
  bool skipped = false;     // non-finite loss or gradient norm: nothing was updated
};

class DistributedAdamW {
 public:
  // `world` reduces the norm; info has one entry per DataParallel tensor.
  DistributedAdamW(DataParallel& dp, std::vector<OptimizerTensorInfo> info, Communicator* world, AdamWConfig config);

  // After dp.finish_grad_reduce(). Updates parameters (and, under ZeRO-1/2, gathers them).
  OptimizerStepResult step(double lr, bool loss_is_finite);
  // Global gradient norm of the reduced gradients (collective over the world).
  double grad_norm();

  std::int64_t steps_taken() const { return steps_; }
  void set_steps_taken(std::int64_t steps) { steps_ = steps; }  // resuming from a checkpoint

 private:
  // A piece of one tensor inside this rank's part of one bucket.
  struct Segment {
    int bucket;
    std::int64_t offset;  // into the bucket's shard (DataParallel::param_shard, grad_shard, moments)
    std::int64_t size;
    bool decay, count;
  };

  DataParallel& dp_;
  Communicator* world_;
  AdamWConfig config_;
  std::vector<Segment> segments_;
  std::int64_t steps_ = 0;
};

// Linear warm-up from 0 over `warmup` steps, then cosine from max_lr to min_lr at step `total`.
double learning_rate(std::int64_t step, std::int64_t warmup, std::int64_t total, double max_lr, double min_lr);

}  // namespace trident
