// The 3D-parallel training loop: mesh, pipeline stage (TP-sharded GPT chunks), schedule executor,
// data parallelism with bucketed overlapped gradient reduction (or ZeRO-1), AdamW with the global
// norm clip and warm-up + cosine learning rate, deterministic DP-disjoint data, evaluation,
// layout-independent checkpoints, and per-step metrics.
//
// One step on every rank:
//   samples [consumed + d·L, consumed + (d+1)·L) of the training file (d: DP rank, L = m·b)
//   -> executor runs the schedule (the layers report each gradient accumulation to GradSync, which
//      reduces TP-partial gradients and hands final ones to the DP buckets as the backward goes, so
//      their reduction overlaps the rest of it)
//   -> GradSync::finish: tied wte copies summed over the embedding group, remaining DP reductions
//   -> global loss; optimizer step (skipped everywhere on a non-finite loss or norm)
#pragma once

#include <map>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/trace.h"
#include "experiments/data/token_loader.h"
#include "experiments/plan/plan.h"
#include "experiments/train/gpt_pipeline_stage.h"
#include "experiments/train/step_record.h"
#include "parallel/data_parallel.h"
#include "parallel/device_mesh.h"
#include "parallel/grad_sync.h"
#include "parallel/optimizer.h"
#include "schedules/executor.h"

namespace trident {

// The device a rank trains on: the plan's, where "cuda" (local_gpu) becomes the GPU of this rank's
// node-local rank (wrapping around when ranks outnumber GPUs, which then share them).
Device resolve_training_device(const DevicePlan& device, Communicator& world);

class Trainer {
 public:
  // Collective over `world` (whose size must be plan.world_size()). plan.data names the token
  // files (resolved by the caller: the default corpus is made before).
  Trainer(const TrainPlan& plan, Communicator& world);
  ~Trainer();

  // One optimizer step on the next batch. Returns its record (the same on every rank).
  StepRecord train_step();
  // Mean validation loss over eval_batches micro-batches per DP replica (the same samples every time).
  double evaluate();

  // Layout-independent checkpoint (full GPT-2-named tensors, optimizer moments, step and data
  // position, checksums); written to `dir`.tmp and renamed, so `dir` is complete or absent.
  void save_checkpoint(const std::string& dir);
  // Loads a checkpoint written under any layout of the same model (resharding on the way in).
  void load_checkpoint(const std::string& dir);
  // init_from: the weights of a Hugging Face GPT-2 folder or a checkpoint (model_weights.h), each
  // rank its shards, with the optimizer state left fresh and the step at 0.
  void load_weights(const std::string& dir);

  std::int64_t step() const { return step_; }
  const TrainPlan& plan() const { return plan_; }
  const DeviceMesh& mesh() const { return mesh_; }
  Device device() const { return device_; }
  DType compute_dtype() const { return compute_dtype_; }
  GptPipelineStage& stage() { return *stage_; }
  DataParallel& data_parallel() { return *dp_; }
  // Trace events of the last training step on this rank (pid = world rank, times in µs from the
  // step's start): compute and pp on tids 0 and 1, DP reduction on tid 2.
  const std::vector<TraceEvent>& last_step_trace() const { return trace_; }

 private:
  TrainPlan plan_;
  Communicator& world_;   // host communicator (MPI): metrics, config, checkpoints' bookkeeping
  Device device_;         // where the model lives: cpu, or this rank's GPU
  DType compute_dtype_;   // activations and GEMM weights (bf16 on GPUs by default); masters f32
  // The world the mesh is split from: NCCL on GPUs (one GPU per rank), else MPI (device tensors
  // staged through host memory when ranks share a GPU).
  std::unique_ptr<Communicator> device_world_;
  DeviceMesh mesh_;
  std::unique_ptr<GptPipelineStage> stage_;
  std::unique_ptr<PipelineExecutor> executor_, eval_executor_;
  ParameterList params_;                 // in DataParallel's order
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<GradSync> grad_sync_;  // decides when each gradient is final
  std::unique_ptr<DistributedAdamW> optimizer_;
  std::optional<TokenLoader> train_, val_;
  std::int64_t step_ = 0;
  std::int64_t samples_consumed_ = 0;    // global training samples used so far (any layout)
  double peak_flops_ = 0.0;
  std::vector<TraceEvent> trace_;
};

}  // namespace trident
