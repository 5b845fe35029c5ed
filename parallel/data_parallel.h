// Data parallelism over the mesh's DP group of N ranks, on flat buckets, with ZeRO stages 0-3.
//
// The tensors of a rank (its parameters, in the order their gradients become final: backward
// order) are packed into buckets of about `bucket_bytes`; a bucket never spans two groups (model
// chunks, which the schedule runs apart) and a tensor marked `alone` (the tied embedding) gets one
// of its own. A bucket of P elements (padded to a multiple of N) is cut into N shards of P/N; DP
// rank d owns shard d. What a rank keeps per bucket (f32):
//
//   stage                parameters   gradients        Adam moments   communication per step
//   0 plain DP           [P]          [P]              2 x [P]        all-reduce of the gradients
//   1 optimizer state    [P]          [P]              2 x [P/N]      reduce-scatter; all-gather params
//   2 + gradients        [P]          [P/N]            2 x [P/N]      reduce-scatter per micro-batch;
//                                                                     all-gather params
//   3 + parameters       [P/N]        [P/N]            2 x [P/N]      all-gather before each use;
//                                                                     reduce-scatter per micro-batch
//
// so with Ψ = the rank's parameters (Σ P over its buckets) the model state per rank is 16Ψ, 8Ψ +
// 8Ψ/N, 4Ψ + 12Ψ/N and 16Ψ/N bytes. Transient buffers are communication buffers: under ZeRO-2/3 a
// bucket's gradients of one micro-batch ([P], from the bucket's first backward-weight to the end of
// its reduce-scatter; those being reduce-scattered hold at most the largest bucket's size in all),
// under ZeRO-3 a bucket's gathered parameters ([P], while its layers compute).
// Every buffer is labelled in its allocator (core/allocator.h), so the peak memory's breakdown into
// weights / gradients / optimizer state / communication buffers / the rest is exact.
//
// Events. GradSync (parallel/grad_sync.h) reports gradients: grad_final(i) (stages 0-1: the
// bucket's reduction starts once every member is final — overlapped with the rest of the backward
// when `overlap`), accumulated(i) (stages 2-3: one micro-batch more; once every member of a bucket
// holds it, the bucket's micro-batch gradient is reduce-scattered in place and, when that completes,
// added into the rank's gradient shard). The layers report what they are about to use through
// before_use() and end_pass() (the pipeline stage wires them): stage 3 gathers a bucket before its
// layers compute, prefetches the next bucket of the pass, and frees buckets the pass has left; stages
// 2-3 give a bucket a fresh micro-batch gradient buffer before its layers accumulate into it.
//
// Non-blocking collectives run on the communicator's own thread (MPI) or stream (NCCL), so
// reductions and gathers proceed while the caller computes. exposed_seconds() is the time the caller
// waited for them: the part the computation did not hide.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "core/allocator.h"
#include "parallel/communicator.h"

namespace trident {

struct DataParallelOptions {
  std::size_t bucket_bytes = 4u << 20;
  bool overlap = true;  // reductions start as soon as their gradients are ready; ZeRO-3 prefetches
  int zero = 0;         // ZeRO stage: 0 plain DP, 1 + shard optimizer state, 2 + gradients, 3 + parameters
};

// A tensor handed to data parallelism: where its parameter and gradient handles live (they are
// rebound to views of the bucket buffers: under ZeRO-3 the parameter only while its bucket is
// gathered, under ZeRO-2/3 the gradient only while its bucket accumulates a micro-batch).
struct DpTensor {
  Tensor* value = nullptr;
  Tensor* grad = nullptr;
  int group = 0;       // buckets do not span groups (the model chunk the tensor belongs to)
  bool alone = false;  // a bucket of its own (tied copies: their shards line up across stages)
};

// What the layers are about to do with a set of parameters (DataParallel::before_use).
enum class ParamUse { kForward, kBackward, kAccumulate };

class DataParallel {
 public:
  struct Slot {
    int bucket = 0;
    std::int64_t begin = 0, size = 0;  // element range in the bucket
  };

  // `dp_group` may be nullptr (dp = 1). Tensors keep their values (copied into the buffers).
  DataParallel(std::vector<DpTensor> tensors, Communicator* dp_group, DataParallelOptions options);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int dp() const { return dp_; }
  int zero() const { return stage_; }
  std::size_t size() const { return slots_.size(); }
  const Slot& slot(int tensor) const { return slots_[static_cast<std::size_t>(tensor)]; }
  int num_buckets() const;
  std::int64_t bucket_size(int b) const;  // P (padded)
  // This rank's part of bucket b: elements [shard_begin, shard_begin + shard_size) (the whole
  // bucket under plain DP, where every replica updates everything).
  std::int64_t shard_begin(int b) const;
  std::int64_t shard_size(int b) const;

  // The optimizer's views of this rank's part of bucket b, each [shard_size(b)] f32: parameters,
  // averaged gradients (after finish_grad_reduce), the two Adam moments.
  Tensor param_shard(int b) const;
  Tensor grad_shard(int b) const;
  Tensor exp_avg_shard(int b) const;
  Tensor exp_avg_sq_shard(int b) const;
  // The part of tensor i's averaged gradient inside this rank's shard (flat; maybe empty), and
  // where it starts in the tensor: GradSync finishes TP-partial and tied gradients on it (ZeRO-2/3).
  Tensor grad_piece(int tensor, std::int64_t* offset_in_tensor = nullptr) const;

  // ---- the step ----
  void zero_grads();
  void start_step();
  void grad_final(int tensor);   // stages 0-1
  void accumulated(int tensor);  // stages 2-3
  void before_use(ParamUse use, const std::vector<int>& tensors);
  void end_pass();
  // Waits for every reduction: afterwards grad_shard(b) holds this rank's averaged gradients.
  void finish_grad_reduce();
  // After the optimizer updated the shards: ZeRO-1/2 all-gather the parameters (nothing to do for
  // plain DP, whose replicas all updated everything, or ZeRO-3, which gathers before each use).
  void gather_params();

  // ---- checkpoints (collective over DP) ----
  // Every tensor's whole value and moments (its TP-local shape), in tensor order.
  using FullStateFn = std::function<void(int tensor, const Tensor& value, const Tensor& exp_avg, const Tensor& exp_avg_sq)>;
  void for_each_full_state(const FullStateFn& fn);
  // Tensor i's whole value and moments (host or device, the same on every DP rank); each rank keeps
  // what it holds of them.
  void load_full_state(int tensor, const Tensor& value, const Tensor& exp_avg, const Tensor& exp_avg_sq);

  // ---- measurements ----
  // Seconds the caller spent waiting for DP communication since start_step().
  double exposed_seconds() const { return exposed_s_; }
  // Bytes this rank keeps for the model (weights, gradients, optimizer state), excluding transient
  // communication buffers: what the table above predicts.
  MemoryByKind model_state_bytes() const;

 private:
  struct Bucket;
  struct Buffer;

  Bucket& bucket_of(int tensor);
  void bind(const Bucket& b, const Tensor& buffer, bool values);
  void unbind(const Bucket& b, bool values);
  // Stages 0-1.
  void launch(Bucket& b);
  // Stages 2-3.
  void open_round(Bucket& b);
  void close_round(Bucket& b);
  bool reap(Bucket& b, bool wait);
  void harvest(Bucket& b, bool wait);
  // Stage 3.
  void request_gather(Bucket& b);
  void ensure_gathered(Bucket& b);
  void release_gathered(Bucket& b);
  // Times a wait for communication into exposed_seconds().
  void timed(const std::function<void()>& wait);

  Communicator* group_;
  DataParallelOptions options_;
  int stage_ = 0;
  int dp_ = 1, rank_ = 0;
  Device device_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  std::vector<DpTensor> tensors_;
  std::vector<Shape> shapes_;
  std::vector<bool> final_;  // stages 0-1: per tensor, final this step
  // Stages 2-3: the closed rounds being reduce-scattered, by bucket in issue order, and their size.
  std::deque<int> in_flight_;
  std::int64_t in_flight_elems_ = 0, largest_bucket_ = 0;
  double exposed_s_ = 0.0;
};

}  // namespace trident
