#include "experiments/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/allocator.h"
#include "core/cuda_probe.h"
#include "core/nvtx.h"
#include "experiments/train/peak_flops.h"
#include "parallel/comm_factory.h"
#include "schedules/generators.h"
#include "schedules/timeline.h"

namespace trident {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double world_sum(Communicator& world, double x) {
  Tensor t = Tensor::empty({1});
  t.data<float>()[0] = static_cast<float>(x);
  world.all_reduce(t, ReduceOp::kSum);
  return t.data<float>()[0];
}

double world_max(Communicator& world, double x) {
  Tensor t = Tensor::empty({1});
  t.data<float>()[0] = static_cast<float>(x);
  world.all_reduce(t, ReduceOp::kMax);
  return t.data<float>()[0];
}

Schedule make_training_schedule(const LayoutConfig& l) {
  if (!l.schedule_file.empty()) return Schedule::load(l.schedule_file);
  return make_schedule(l.schedule, l.pp, l.v, l.micro_batches);
}
}  // namespace

Device resolve_training_device(const std::string& device, Communicator& world) {
  const Device d = Device::parse(device);
  if (d.is_cpu() || device != "cuda") return d;
  const CudaProbe& probe = cuda_probe();
  TRIDENT_CHECK(probe.available, "device is cuda, but ", probe.reason, " (set device to \"cpu\")");
  return Device::cuda(local_rank(world) % probe.device_count);
}

DType resolve_compute_dtype(const std::string& precision, Device device) {
  if (precision == "auto") return device.is_cuda() ? DType::kBF16 : DType::kF32;
  return parse_dtype(precision);
}

Trainer::Trainer(const TrainConfig& config, Communicator& world, const std::string& train_path,
                 const std::string& val_path)
    : config_(config),
      world_(world),
      device_(resolve_training_device(config.device, world)),
      compute_dtype_(resolve_compute_dtype(config.precision, device_)),
      device_world_(make_device_world(world, device_, config.comm)),
      layout_(config.layout.dp, config.layout.pp, config.layout.tp, config.layout.order),
      mesh_(*device_world_, layout_),
      schedule_(make_training_schedule(config.layout)) {
  const LayoutConfig& l = config_.layout;
  const TensorParallelOptions tp_options{l.sequence_parallel, parse_recompute(l.recompute)};
  stage_ = std::make_unique<GptPipelineStage>(config_.model, schedule_, mesh_.coord().pp, &mesh_.tp_group(),
                                              tp_options, l.layers_per_chunk, device_, compute_dtype_);
  executor_ = std::make_unique<PipelineExecutor>(schedule_, &mesh_.pp_group());
  eval_executor_ = std::make_unique<PipelineExecutor>(forward_only(schedule_, std::max(1, config_.eval_batches)),
                                                      &mesh_.pp_group());

  // Data parallelism's order: gradients become final from the last layer back, so the reverse of
  // the forward order; wte copies last (they are summed over the embedding group at the very end).
  const std::vector<Parameter*> wte = stage_->wte_copies();
  for (Parameter* p : stage_->parameters())
    if (std::find(wte.begin(), wte.end(), p) == wte.end()) params_.push_back(p);
  std::reverse(params_.begin(), params_.end());
  for (Parameter* p : wte) params_.push_back(p);
  std::vector<DpTensor> tensors;
  std::vector<OptimizerTensorInfo> info;
  for (Parameter* p : params_) {
    tensors.push_back({&p->value, &p->grad});
    // Counted once in the norm: replicated tensors on TP rank 0 only, tied copies not at all.
    info.push_back({p->weight_decay(), (!p->replicated() || mesh_.coord().tp == 0) && !stage_->is_tied_copy(p)});
  }
  DataParallelOptions dpo;
  dpo.bucket_bytes = static_cast<std::size_t>(l.bucket_mb * 1024 * 1024);
  dpo.overlap = l.overlap_grad_reduce;
  dpo.zero1 = l.zero1;
  dp_ = std::make_unique<DataParallel>(tensors, &mesh_.dp_group(), dpo);
  grad_sync_ = stage_->wire_grad_sync(params_, &mesh_.tp_group(), mesh_.embedding_group(), dp_.get());
  const OptimizerConfig& o = config_.optimizer;
  optimizer_ = std::make_unique<DistributedAdamW>(
      *dp_, info, &world_,
      AdamWConfig{static_cast<float>(o.beta1), static_cast<float>(o.beta2), static_cast<float>(o.eps),
                  static_cast<float>(o.weight_decay), o.grad_clip});

  train_.emplace(TokenFile(train_path), static_cast<int>(config_.model.seq_len), config_.data.seed);
  val_.emplace(TokenFile(val_path), static_cast<int>(config_.model.seq_len), config_.data.seed + 1);
  for (const TokenLoader* d : {&*train_, &*val_})
    TRIDENT_CHECK(d->max_token() < config_.model.vocab, d->file().path(), " holds token ", d->max_token(),
                  " but model.vocab is ", config_.model.vocab, ": raise model.vocab above ", d->max_token());
  if (config_.peak_flops > 0) peak_flops_ = config_.peak_flops;
  else if (device_.is_cuda()) peak_flops_ = gpu_peak_flops(device_, compute_dtype_);
  else peak_flops_ = measure_cpu_peak_flops(world_);
}

Trainer::~Trainer() = default;

nlohmann::json Trainer::train_step() {
  const LayoutConfig& l = config_.layout;
  const std::int64_t per_replica = static_cast<std::int64_t>(l.micro_batches) * l.micro_batch_size;
  const std::int64_t global = per_replica * l.dp;
  for (Communicator* c : {&mesh_.tp_group(), &mesh_.pp_group(), &mesh_.dp_group()}) c->reset_busy_seconds();
  if (mesh_.embedding_group()) mesh_.embedding_group()->reset_busy_seconds();
  allocator_for(device_).reset_peak();
  world_.barrier();  // steps start together, so step time and bubble are the pipeline's own
  const Clock::time_point t0 = Clock::now();

  Tensor ids, targets;
  train_->batch(samples_consumed_ + mesh_.coord().dp * per_replica, per_replica, ids, targets);
  stage_->set_batch(ids, targets);
  dp_->zero_grads();
  grad_sync_->start_step(schedule_.micro_batches);

  const ExecutionStats stats = executor_->run(*stage_);
  const Clock::time_point reduce_start = Clock::now();
  {
    const NvtxRange range("grad sync finish", NvtxColor::kOptimizer);
    grad_sync_->finish();
  }
  const double reduce_wait = since(reduce_start);

  // The step's loss: each replica's last stage holds it; TP rank 0 of it reports.
  const double mine = stage_->holds_loss() && mesh_.coord().tp == 0 ? stage_->loss() : 0.0;
  const double loss = world_sum(world_, mine) / l.dp;
  const double lr = learning_rate(step_, config_.optimizer.warmup_steps, config_.steps, config_.optimizer.lr,
                                  config_.optimizer.min_lr);
  OptimizerStepResult r;
  {
    const NvtxRange range("optimizer step", NvtxColor::kOptimizer);
    r = optimizer_->step(lr, std::isfinite(loss));
    stage_->refresh_compute_copies();  // the bf16 copies the next step's GEMMs read
  }
  const double step_time = world_max(world_, since(t0));
  ++step_;
  samples_consumed_ += global;

  // This step's trace: the executor's timeline plus the DP reduction's tail.
  trace_ = to_trace_events(stats.timeline, 1e6);
  for (TraceEvent& e : trace_) e.pid = world_.rank();
  trace_.push_back({"dp reduce (tail)", "comm", world_.rank(), 2, stats.step_s * 1e6, reduce_wait * 1e6, {}});

  const double bubble = world_sum(world_, stats.step_s - stats.compute_s) / world_.size();
  const double flops = config_.model.flops_per_step(global);
  nlohmann::json rec;
  rec["step"] = step_;
  rec["loss"] = std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(nullptr);
  rec["grad_norm"] = std::isfinite(r.grad_norm) ? nlohmann::json(r.grad_norm) : nlohmann::json(nullptr);
  rec["lr"] = lr;
  rec["skipped"] = r.skipped;
  rec["step_time_s"] = step_time;
  rec["tokens_per_s"] = static_cast<double>(global * config_.model.seq_len) / step_time;
  rec["tflops_per_rank"] = flops / step_time / world_.size() / 1e12;
  rec["mfu"] = flops / step_time / world_.size() / peak_flops_;
  rec["bubble_s"] = bubble;
  rec["bubble_frac"] = bubble / step_time;
  const double emb = mesh_.embedding_group() ? mesh_.embedding_group()->busy_seconds() : 0.0;
  rec["comm_s"] = {{"tp", world_max(world_, mesh_.tp_group().busy_seconds())},
                   {"pp", world_max(world_, mesh_.pp_group().busy_seconds())},
                   {"dp", world_max(world_, mesh_.dp_group().busy_seconds())},
                   {"embedding", world_max(world_, emb)}};
  const double peak = static_cast<double>(allocator_for(device_).stats().peak_bytes);
  rec["peak_mem_bytes"] = {{"min", -world_max(world_, -peak)}, {"max", world_max(world_, peak)}};
  return rec;
}

double Trainer::evaluate() {
  const LayoutConfig& l = config_.layout;
  const int m = std::max(1, config_.eval_batches);
  const std::int64_t per_replica = static_cast<std::int64_t>(m) * l.micro_batch_size;
  Tensor ids, targets;
  val_->batch(mesh_.coord().dp * per_replica, per_replica, ids, targets);
  stage_->set_eval(true);
  stage_->set_batch(ids, targets, m);
  eval_executor_->run(*stage_);
  stage_->set_eval(false);
  const double mine = stage_->holds_loss() && mesh_.coord().tp == 0 ? stage_->loss() : 0.0;
  return world_sum(world_, mine) / l.dp;
}

}  // namespace trident
