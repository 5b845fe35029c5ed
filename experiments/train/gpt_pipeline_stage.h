// The GPT as a pipeline rank runs it: one GptChunk per chunk this rank holds (v of them), fed
// micro-batches of one step's batch, behind the executor's StageRunner interface.
//
// Chunks cut the L blocks in order: evenly by default (the first L mod C chunks get one extra
// block), or by an explicit list of blocks per chunk. Chunk 0 also holds the embedding; the last
// chunk the final LayerNorm, the output layer and the loss, with its own copy of the tied wte.
// wire_grad_sync() hands the stage's gradients to GradSync (parallel/grad_sync.h), which decides
// when each is final: TP-partial sums, the tied wte copies (summed in memory when one stage holds
// both, e.g. the V placement; over the mesh's embedding group otherwise), data parallelism.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "core/ops.h"
#include "experiments/plan/plan.h"
#include "parallel/grad_sync.h"
#include "layers/gpt_chunk.h"
#include "schedules/schedule.h"
#include "schedules/stage_runner.h"

namespace trident {

class GptPipelineStage final : public StageRunner {
 public:
  GptPipelineStage(const GptConfig& config, const Schedule& schedule, int stage, Communicator* tp_group,
                   TensorParallelOptions options, const std::vector<std::int64_t>& layers_per_chunk = {},
                   Device device = Device::cpu(), DType compute_dtype = DType::kF32);

  // The step's batch: ids and targets [m·b, S] i32 (on the host or the stage's device; copied to
  // the device once per step); micro-batch i is rows [i·b, (i+1)·b), with m the schedule's
  // micro-batches unless given (evaluation runs its own count).
  void set_batch(const Tensor& ids, const Tensor& targets, int micro_batches = 0);

  Shape boundary_shape(int chunk) const override;
  Device boundary_device() const override { return device_; }
  DType boundary_dtype() const override { return compute_dtype_; }
  Tensor forward(int mb, int chunk, const Tensor& input) override;
  Tensor backward_input(int mb, int chunk, const Tensor& grad_output) override;
  void backward_weight(int mb, int chunk) override;
  void synchronize() override { ops_for(device_).synchronize(); }

  // Every parameter of every chunk on this rank (each tensor once).
  ParameterList parameters();
  void zero_grads();
  // After the optimizer changed the f32 masters: re-round every chunk's compute (bf16) copies.
  void refresh_compute_copies();
  // Gradient synchronisation of this stage's parameters, tensor i being order[i] (DataParallel's
  // tensor order; `dp` may be null): TP-partial flags from the layers, the wte copies tied over
  // `embedding_group` when the first and the last chunk live on different stages. Installs every
  // chunk's gradient hook to report to the returned GradSync, which must outlive the steps run.
  // Also reports every chunk's parameter use to `dp` (ZeRO-2/3 gradient buffers, ZeRO-3 gathers).
  std::unique_ptr<GradSync> wire_grad_sync(const ParameterList& order, Communicator* tp_group,
                                           Communicator* embedding_group, DataParallel* dp);
  // Data parallelism's tensors for `order`: each parameter with its chunk (buckets do not span
  // chunks, which the schedule runs apart); the wte copies alone in their buckets, so their DP shards
  // line up across the stages that hold one.
  std::vector<DpTensor> dp_tensors(const ParameterList& order);
  // The wte copies this stage holds (0, 1 or 2 parameters).
  std::vector<Parameter*> wte_copies();
  // The last chunk's second copy of wte when another chunk holds the embedding's.
  bool is_tied_copy(const Parameter* p) const;
  // Evaluation: forward releases each micro-batch's state at once (no backward will come).
  void set_eval(bool eval) { eval_ = eval; }

  bool holds_loss() const;  // this rank holds the last chunk
  double loss() const;      // mean loss over the step's micro-batches (holds_loss() only)
  double flops_forward_per_micro_batch() const;

  GptChunk& chunk_model(int chunk);
  const std::vector<int>& chunks() const { return chunks_; }

 private:
  GptConfig config_;
  Schedule schedule_;
  int stage_;
  Device device_;
  DType compute_dtype_;
  std::vector<int> chunks_;
  std::map<int, std::unique_ptr<GptChunk>> models_;  // global chunk -> model
  Tensor ids_, targets_;
  std::int64_t micro_batch_size_ = 0;
  int micro_batches_ = 0;
  std::map<int, double> losses_;
  bool eval_ = false;
};

}  // namespace trident
