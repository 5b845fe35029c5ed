#include "experiments/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/allocator.h"
#include "core/cuda_probe.h"
#include "core/nvtx.h"
#include "experiments/train/peak_flops.h"
#include "parallel/comm_factory.h"
#include "experiments/train/step_stats.h"
#include "schedules/generators.h"
#include "schedules/timeline.h"

namespace trident {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The mean over DP replicas of a loss that the reporting rank of each replica holds (the last
// stage's TP rank 0); every other rank adds 0. f64, so the reported loss keeps its digits.
double replica_mean(Communicator& world, double mine, int dp) {
  Tensor t = Tensor::empty({1}, DType::kF64);
  t.data<double>()[0] = mine;
  world.all_reduce(t, ReduceOp::kSum);
  return t.data<double>()[0] / dp;
}
}  // namespace

Device resolve_training_device(const DevicePlan& device, Communicator& world) {
  if (!device.local_gpu) return device.device;
  const CudaProbe& probe = cuda_probe();
  TRIDENT_CHECK(probe.available, "device is cuda, but ", probe.reason, " (set device to \"cpu\")");
  return Device::cuda(local_rank(world) % probe.device_count);
}

Trainer::Trainer(const TrainPlan& plan, Communicator& world)
    : plan_(plan),
      world_(world),
      device_(resolve_training_device(plan.device, world)),
      compute_dtype_(plan.compute_dtype),
      device_world_(make_device_world(world, device_, plan.comm)),
      mesh_(*device_world_, plan.mesh) {
  stage_ = std::make_unique<GptPipelineStage>(plan_.model, plan_.schedule, mesh_.coord().pp, &mesh_.tp_group(),
                                              plan_.tp, plan_.layers_per_chunk, device_, compute_dtype_);
  executor_ = std::make_unique<PipelineExecutor>(plan_.schedule, &mesh_.pp_group());
  eval_executor_ = std::make_unique<PipelineExecutor>(forward_only(plan_.schedule, plan_.eval_batches),
                                                      &mesh_.pp_group());

  // Data parallelism's order: gradients become final from the last layer back, so the reverse of
  // the forward order; wte copies last (they are summed over the embedding group at the very end).
  const std::vector<Parameter*> wte = stage_->wte_copies();
  for (Parameter* p : stage_->parameters())
    if (std::find(wte.begin(), wte.end(), p) == wte.end()) params_.push_back(p);
  std::reverse(params_.begin(), params_.end());
  for (Parameter* p : wte) params_.push_back(p);
  std::vector<OptimizerTensorInfo> info;
  for (Parameter* p : params_) {
    // Counted once in the norm: replicated tensors on TP rank 0 only, tied copies not at all.
    info.push_back({p->weight_decay(), (!p->replicated() || mesh_.coord().tp == 0) && !stage_->is_tied_copy(p)});
  }
  dp_ = std::make_unique<DataParallel>(stage_->dp_tensors(params_), &mesh_.dp_group(), plan_.dp);
  grad_sync_ = stage_->wire_grad_sync(params_, &mesh_.tp_group(), mesh_.embedding_group(), dp_.get());
  optimizer_ = std::make_unique<DistributedAdamW>(*dp_, info, &world_, plan_.adamw);

  const int seq = static_cast<int>(plan_.model.seq_len);
  train_.emplace(TokenFile(plan_.data.train), seq, plan_.data.seed);
  val_.emplace(TokenFile(plan_.data.val), seq, plan_.data.seed + 1);
  for (const TokenLoader* d : {&*train_, &*val_})
    TRIDENT_CHECK(d->max_token() < plan_.model.vocab, d->file().path(), " holds token ", d->max_token(),
                  " but model.vocab is ", plan_.model.vocab, ": raise model.vocab above ", d->max_token());
  if (plan_.peak_flops > 0) peak_flops_ = plan_.peak_flops;
  else if (device_.is_cuda()) peak_flops_ = gpu_peak_flops(device_, compute_dtype_);
  else peak_flops_ = measure_cpu_peak_flops(world_);
}

Trainer::~Trainer() = default;

StepRecord Trainer::train_step() {
  const std::int64_t per_replica = static_cast<std::int64_t>(plan_.micro_batches()) * plan_.micro_batch_size;
  const std::int64_t global = plan_.samples_per_step();
  std::vector<Communicator*> groups = {&mesh_.tp_group(), &mesh_.pp_group(), &mesh_.dp_group()};
  if (mesh_.embedding_group()) groups.push_back(mesh_.embedding_group());
  for (Communicator* c : groups) c->reset_busy_seconds();
  allocator_for(device_).reset_peak();
  world_.barrier();  // steps start together, so step time and bubble are the pipeline's own
  const Clock::time_point t0 = Clock::now();

  Tensor ids, targets;
  train_->batch(samples_consumed_ + mesh_.coord().dp * per_replica, per_replica, ids, targets);
  stage_->set_batch(ids, targets);
  dp_->zero_grads();
  grad_sync_->start_step(plan_.micro_batches());

  const ExecutionStats run = executor_->run(*stage_);
  const Clock::time_point reduce_start = Clock::now();
  {
    const NvtxRange range("grad sync finish", NvtxColor::kOptimizer);
    grad_sync_->finish();
  }
  const double reduce_wait = since(reduce_start);

  // The step's loss decides whether the update happens, so every rank needs it now.
  const double mine = stage_->holds_loss() && mesh_.coord().tp == 0 ? stage_->loss() : 0.0;
  const double loss = replica_mean(world_, mine, plan_.mesh.dp());
  const double lr = learning_rate(step_, plan_.lr.warmup_steps, plan_.steps, plan_.lr.max_lr, plan_.lr.min_lr);
  OptimizerStepResult r;
  {
    const NvtxRange range("optimizer step", NvtxColor::kOptimizer);
    r = optimizer_->step(lr, std::isfinite(loss));
    stage_->refresh_compute_copies();  // the bf16 copies the next step's GEMMs read
  }
  RankStepStats stats = rank_stats(run, plan_.schedule);
  stats.step_s = since(t0);
  stats.comm = {mesh_.tp_group().busy_seconds(), mesh_.pp_group().busy_seconds(), mesh_.dp_group().busy_seconds(),
                mesh_.embedding_group() ? mesh_.embedding_group()->busy_seconds() : 0.0};
  const Allocator& memory = allocator_for(device_);
  stats.peak_bytes = static_cast<double>(memory.stats().peak_bytes);
  const MemoryByKind held = memory.peak_breakdown();
  stats.at_peak = {held[MemoryKind::kWeights], held[MemoryKind::kGradients], held[MemoryKind::kOptimizerState],
                   held[MemoryKind::kCommBuffers], memory.stats().peak_bytes - held.labelled()};
  stats.dp_exposed_s = dp_->exposed_seconds();
  ++step_;
  samples_consumed_ += global;

  // This step's trace: the executor's timeline plus the DP reduction's tail.
  trace_ = to_trace_events(run.timeline, 1e6);
  for (TraceEvent& e : trace_) e.pid = world_.rank();
  trace_.push_back({"dp reduce (tail)", "comm", world_.rank(), 2, run.step_s * 1e6, reduce_wait * 1e6, {}});

  StepTotals totals;
  totals.step = step_;
  totals.loss = loss;
  totals.grad_norm = r.grad_norm;
  totals.lr = lr;
  totals.skipped = r.skipped;
  totals.tokens = static_cast<double>(global * plan_.model.seq_len);
  totals.model_flops = plan_.model.flops_per_step(global);
  totals.peak_flops = peak_flops_;
  return gather_step_record(world_, plan_.mesh, plan_.schedule, stats, totals);
}

double Trainer::evaluate() {
  const int m = plan_.eval_batches;
  const std::int64_t per_replica = static_cast<std::int64_t>(m) * plan_.micro_batch_size;
  Tensor ids, targets;
  val_->batch(mesh_.coord().dp * per_replica, per_replica, ids, targets);
  stage_->set_eval(true);
  stage_->set_batch(ids, targets, m);
  eval_executor_->run(*stage_);
  stage_->set_eval(false);
  const double mine = stage_->holds_loss() && mesh_.coord().tp == 0 ? stage_->loss() : 0.0;
  return replica_mean(world_, mine, plan_.mesh.dp());
}

}  // namespace trident
