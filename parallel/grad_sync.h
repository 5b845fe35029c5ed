// The one owner of "this gradient is final" (the role of DDP's Reducer).
//
// The layers report every accumulation into a parameter's gradient (one per micro-batch, per layer,
// as backward_weight runs). GradSync counts them; when a gradient holds every micro-batch of the step
// it is final, and in this order:
//   1. a TP-partial gradient (sequence parallelism: a weight replicated over TP whose ranks saw
//      different tokens) is all-reduced over the TP group;
//   2. data parallelism is told (DataParallel::grad_final), which starts the reduction of the bucket
//      holding it once every tensor of that bucket is final — overlapping the rest of the backward.
// Tied copies (the embedding table wte, used again by the output layer) are the exception: their
// accumulations only count; at finish() the copies on this rank are summed in memory, the sum is
// all-reduced over the tied group (the embedding group, when the first and the last chunk live on
// different stages), copied back into every copy, and only then marked final.
//
// Under ZeRO-2/3 no rank keeps a whole gradient: every accumulation goes to data parallelism at once
// (DataParallel::accumulated), which reduce-scatters each micro-batch's bucket gradients into the
// rank's averaged shard. Sums commute, so finish() then completes the TP partial sums and the tied
// copies on the pieces of them inside the shard, after the DP reduction instead of before it.
//
// Nothing else in trident decides when a gradient is final: the trainer wires the layers' hook to
// accumulated() and calls start_step() / finish() around the schedule.
#pragma once

#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "parallel/data_parallel.h"

namespace trident {

struct GradSyncTensor {
  const Tensor* grad = nullptr;  // the parameter's gradient handle (DataParallel rebinds it to its buckets)
  bool tp_partial = false;       // all-reduce over TP once final
  bool tied = false;             // a tied copy: summed with the other copies at finish()
  std::string name;              // for messages
};

class GradSync {
 public:
  // Tensor i here is DataParallel's tensor i. `tp_group` may be nullptr (tp = 1), `tied_group`
  // nullptr when every tied copy lives on this rank, `dp` nullptr without data parallelism (tests).
  GradSync(std::vector<GradSyncTensor> tensors, Communicator* tp_group, Communicator* tied_group, DataParallel* dp);

  // A step in which every gradient receives `micro_batches` contributions.
  void start_step(int micro_batches);
  // Tensor i's gradient holds one more micro-batch.
  void accumulated(int i);
  // After the step's last backward action: ties the copies, marks them final, and waits for every
  // data-parallel reduction (gradients averaged over DP, or this rank's ZeRO shard ready).
  void finish();

  std::size_t size() const { return tensors_.size(); }

 private:
  bool sharded_grads() const { return dp_ && dp_->zero() >= 2; }
  void final(int i);
  void finish_sharded(const std::vector<int>& tied);
  // Sums the copies into the first, all-reduces over the tied group, copies the sum back.
  void tie(const std::vector<Tensor>& copies);

  std::vector<GradSyncTensor> tensors_;
  Communicator* tp_group_;
  Communicator* tied_group_;
  DataParallel* dp_;
  int micro_batches_ = 0;
  std::vector<int> received_;  // contributions this step, per tensor
};

}  // namespace trident
