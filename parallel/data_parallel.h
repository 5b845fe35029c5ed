// Data parallelism over the mesh's DP group, on flat buckets (Megatron-style contiguous buffers).
//
// The tensors of a rank (its parameters, in the order their gradients become final) are packed
// into buckets of about `bucket_bytes`. Each bucket owns flat f32 buffers — parameters, gradients
// and the two AdamW moments — and every tensor is rebound to a view into them, so reducing a
// bucket is one collective on one buffer with no copies.
//
// During the step, grad_final(i) says tensor i's gradient is final (GradSync, parallel/grad_sync.h,
// decides when); once every tensor of a bucket is final, the bucket's reduction starts non-blocking
// (overlapping the remaining backward) if `overlap` is on, else everything is reduced at the end.
// Plain DP all-reduces the gradients (average). ZeRO-1 reduce-scatters them instead: DP rank d
// receives the averaged shard d of each bucket, updates only that shard of the parameters with only
// that shard of the optimizer state, and all-gathers the parameters afterwards.
#pragma once

#include <cstdint>
#include <vector>

#include "parallel/communicator.h"

namespace trident {

struct DataParallelOptions {
  std::size_t bucket_bytes = 4u << 20;
  bool overlap = true;  // launch each bucket as soon as its gradients are final
  bool zero1 = false;   // reduce-scatter + sharded update + all-gather
};

// A tensor handed to data parallelism: where its parameter and gradient handles live (they are
// rebound to views of the bucket buffers).
struct DpTensor {
  Tensor* value = nullptr;
  Tensor* grad = nullptr;
};

class DataParallel {
 public:
  struct Bucket {
    Tensor params, grads, exp_avg, exp_avg_sq;  // flat [padded], padded to a multiple of dp
    Tensor grad_shard;                          // ZeRO-1: [padded / dp], the averaged shard; else empty
    std::vector<int> members;                   // tensor indices, in packing order
    std::int64_t used = 0;                      // elements before the padding
    std::int64_t shard_begin = 0, shard_size = 0;  // this DP rank's shard (ZeRO-1; whole bucket otherwise)
    int pending = 0;                            // members not yet final this step
    bool launched = false;
    Request request;
  };
  // Where tensor i lives: bucket and element range.
  struct Slot {
    int bucket = 0;
    std::int64_t begin = 0, size = 0;
  };

  // `dp_group` may be nullptr (dp = 1). Tensors keep their values (copied into the buffers).
  DataParallel(std::vector<DpTensor> tensors, Communicator* dp_group, DataParallelOptions options);

  int dp() const { return dp_; }
  bool zero1() const { return options_.zero1; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  std::vector<Bucket>& buckets() { return buckets_; }
  // The averaged gradients of this rank's shard of bucket b, after finish_grad_reduce().
  Tensor reduced_grads(const Bucket& b) const;
  const Slot& slot(int tensor) const { return slots_[static_cast<std::size_t>(tensor)]; }
  std::size_t size() const { return slots_.size(); }

  // Views of tensor i's moments (same shape as its parameter), for checkpoints.
  Tensor exp_avg(int tensor) const;
  Tensor exp_avg_sq(int tensor) const;

  void zero_grads();
  // Begins a step: no gradient is final yet.
  void start_step();
  // Tensor i's gradient is final for this step (once per step per tensor).
  void grad_final(int tensor);
  // Gives MPI a chance to progress launched reductions (call between pieces of work).
  void progress();
  // Launches every bucket not launched yet and waits for all: afterwards the gradients are
  // averaged over DP (plain), or each bucket's grad_shard holds this rank's averaged shard (ZeRO-1).
  void finish_grad_reduce();
  // ZeRO-1 after the update: all-gathers every bucket's parameters (no-op for plain DP).
  void gather_params();
  // ZeRO-1 for checkpoints: all-gathers the moments so every rank holds them whole.
  void gather_optimizer_state();

  // Seconds spent inside DP communication calls this step (launch, progress, waits).
  double comm_seconds() const { return comm_s_; }

 private:
  void launch(Bucket& b);

  Communicator* group_;
  DataParallelOptions options_;
  int dp_ = 1;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  std::vector<bool> final_;     // per tensor: final this step
  std::vector<Shape> shapes_;
  double comm_s_ = 0.0;
};

}  // namespace trident
