#include "experiments/plan/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <utility>

#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/lowering.h"
#include "schedules/validator.h"

namespace trident {

namespace {

template <typename F>
void prefixed(const std::string& field, F&& check) {
  try {
    check();
  } catch (const Error& e) {
    TRIDENT_FAIL(field, ": ", message_of(e));
  }
}

std::string divisors(std::int64_t n) {
  std::string out;
  for (std::int64_t d = 1; d <= n && d <= 1024; ++d)
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  return out;
}

void check_optimizer(const OptimizerConfig& o) {
  TRIDENT_CHECK(std::isfinite(o.lr) && o.lr > 0, "optimizer.lr is ", o.lr,
                ": use a positive learning rate (e.g. 1e-3)");
  TRIDENT_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0 && o.min_lr <= o.lr, "optimizer.min_lr is ", o.min_lr,
                ": the cosine floor must lie in [0, optimizer.lr = ", o.lr, "] (e.g. lr / 10)");
  TRIDENT_CHECK(o.warmup_steps >= 0, "optimizer.warmup_steps is ", o.warmup_steps, ": use 0 (no warm-up) or more");
  TRIDENT_CHECK(o.beta1 >= 0 && o.beta1 < 1, "optimizer.beta1 is ", o.beta1, ": use a value in [0, 1) (e.g. 0.9)");
  TRIDENT_CHECK(o.beta2 >= 0 && o.beta2 < 1, "optimizer.beta2 is ", o.beta2, ": use a value in [0, 1) (e.g. 0.95)");
  TRIDENT_CHECK(std::isfinite(o.eps) && o.eps > 0, "optimizer.eps is ", o.eps,
                ": use a small positive value (e.g. 1e-8)");
  TRIDENT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "optimizer.weight_decay is ", o.weight_decay,
                ": use 0 (none) or a positive value (e.g. 0.1)");
  TRIDENT_CHECK(std::isfinite(o.grad_clip) && o.grad_clip >= 0, "optimizer.grad_clip is ", o.grad_clip,
                ": use 0 (no clipping) or a positive gradient-norm bound (e.g. 1.0)");
}

void check_sizes(const TrainConfig& c) {
  const LayoutConfig& l = c.layout;
  TRIDENT_CHECK(l.dp >= 1, "layout.dp is ", l.dp, ": use at least 1");
  TRIDENT_CHECK(l.pp >= 1, "layout.pp is ", l.pp, ": use at least 1");
  TRIDENT_CHECK(l.tp >= 1, "layout.tp is ", l.tp, ": use at least 1");
  TRIDENT_CHECK(l.micro_batches >= 1, "layout.micro_batches is ", l.micro_batches, ": use at least 1");
  TRIDENT_CHECK(l.micro_batch_size >= 1, "layout.micro_batch_size is ", l.micro_batch_size, ": use at least 1");
  TRIDENT_CHECK(l.v >= 1, "layout.v is ", l.v, ": use at least 1 chunk per rank");
  TRIDENT_CHECK(std::isfinite(l.bucket_mb) && l.bucket_mb > 0, "layout.bucket_mb is ", l.bucket_mb,
                ": use a positive gradient bucket size in MiB (e.g. 4)");
  TRIDENT_CHECK(l.zero >= 0 && l.zero <= 3, "layout.zero is ", l.zero, ": use a ZeRO stage, 0 (plain data ",
                "parallelism), 1 (shard optimizer state), 2 (+ gradients) or 3 (+ parameters)");
  TRIDENT_CHECK(c.steps >= 1, "steps is ", c.steps, ": use at least 1");
  TRIDENT_CHECK(c.eval_interval >= 0, "eval_interval is ", c.eval_interval, ": use 0 (never) or a step count");
  TRIDENT_CHECK(c.eval_batches >= 1, "eval_batches is ", c.eval_batches, ": use at least 1 micro-batch per evaluation");
  TRIDENT_CHECK(c.checkpoint_interval >= 0, "checkpoint_interval is ", c.checkpoint_interval,
                ": use 0 (never) or a step count");
  TRIDENT_CHECK(c.log_interval >= 1, "log_interval is ", c.log_interval, ": use at least 1 (a line every N steps)");
  TRIDENT_CHECK(c.max_consecutive_skips >= 1, "max_consecutive_skips is ", c.max_consecutive_skips,
                ": use at least 1 (the run stops after that many non-finite steps in a row)");
  TRIDENT_CHECK(std::isfinite(c.peak_flops) && c.peak_flops >= 0, "peak_flops is ", c.peak_flops,
                ": use 0 (measure it) or the device's peak FLOP/s per rank (e.g. 989e12 for an H100's bf16)");
  TRIDENT_CHECK(!c.out_dir.empty(), "out_dir is empty: name the directory metrics and checkpoints go to");
}

// Sizes whose products later code computes in int64 (parameter counts, bytes of activations and
// logits) or builds objects from (schedule actions, a chunk's blocks) must stay far from overflow
// and from anything a machine holds. Checked in long double, before anything is built from them;
// whether a sane plan fits a machine is the memory model's verdict (experiments/sim/memory_model.h).
void check_magnitudes(const TrainConfig& c) {
  const GptConfig& m = c.model;
  const LayoutConfig& l = c.layout;
  using F = long double;
  const F h = static_cast<F>(m.hidden), L = static_cast<F>(m.layers);
  const F params = static_cast<F>(m.vocab) * h + static_cast<F>(m.seq_len) * h + L * (12 * h * h + 13 * h) + 2 * h;
  TRIDENT_CHECK(params < 1e15L, "model: layers ", m.layers, ", hidden ", m.hidden, ", vocab ", m.vocab, " make ",
                static_cast<double>(params), " parameters, beyond any machine (the largest trained models have ~1e12): ",
                "check model.layers, model.hidden and model.vocab");
  TRIDENT_CHECK(m.layers <= (1 << 20), "model.layers is ", m.layers, ": more than 1048576 transformer blocks; ",
                "check the value (published models have at most a few hundred)");
  TRIDENT_CHECK(m.seq_len < std::numeric_limits<std::int32_t>::max(), "model.seq_len is ", m.seq_len,
                ": a sample is seq_len+1 tokens of a token file, which holds fewer than 2^31; use a shorter sequence");
  const F tokens = static_cast<F>(l.micro_batch_size) * static_cast<F>(m.seq_len);
  const F widest = std::max(4 * h, static_cast<F>(m.vocab));  // the MLP's 4h or the logits' V per token
  TRIDENT_CHECK(tokens * widest < F(1ull << 50), "layout.micro_batch_size ", l.micro_batch_size, " x model.seq_len ",
                m.seq_len, " tokens with rows of ", static_cast<double>(widest), " values make one micro-batch's ",
                "activations exceed 2^50 elements: use a smaller layout.micro_batch_size or model.seq_len");
  // Actions of the step's schedule over all stages (each micro-batch visits every chunk).
  const F chunks = static_cast<F>(l.pp) * std::max(l.v, 2);
  for (const auto& [field, count] : {std::pair<const char*, int>{"layout.micro_batches", l.micro_batches},
                                     std::pair<const char*, int>{"eval_batches", c.eval_batches}})
    TRIDENT_CHECK(static_cast<F>(count) * chunks <= F(1 << 24), field, " ", count, " x layout.pp ", l.pp,
                  " stages would make a schedule of ", static_cast<double>(count * chunks), " actions, more than 2^24: ",
                  "use fewer pipeline stages or fewer micro-batches (", field, " counts micro-batches per step and ",
                  "DP replica; raise layout.micro_batch_size instead)");
}

// The pipeline the config asks for: its schedule (compute-only, validated), and words for messages.
struct Pipeline {
  Schedule schedule;
  std::string how;  // "layout.pp 2 × v 2 for interleaved"
  int chunks() const { return schedule.num_chunks(); }
};

Pipeline resolve_schedule(const LayoutConfig& l) {
  namespace fs = std::filesystem;
  if (!l.schedule_file.empty()) {
    TRIDENT_CHECK(fs::is_regular_file(l.schedule_file), "layout.schedule_file '", l.schedule_file,
                  "' does not exist: give a schedule in text form (`trident schedule --save FILE` writes one), ",
                  "or leave schedule_file empty to use layout.schedule");
    constexpr std::uintmax_t kMaxScheduleBytes = 64ull << 20;  // 2^24 actions of a few characters
    TRIDENT_CHECK(fs::file_size(l.schedule_file) <= kMaxScheduleBytes, "layout.schedule_file '", l.schedule_file,
                  "' holds ", fs::file_size(l.schedule_file), " bytes, more than a schedule of 2^24 actions needs: ",
                  "is it a schedule in text form?");
    Schedule s;
    prefixed("layout.schedule_file", [&] { s = Schedule::load(l.schedule_file); });
    TRIDENT_CHECK(s.pp == l.pp, "layout.schedule_file '", l.schedule_file, "' is for pp=", s.pp, " but layout.pp is ",
                  l.pp, ": set layout.pp to ", s.pp, " or use a schedule made for pp=", l.pp);
    TRIDENT_CHECK(s.micro_batches == l.micro_batches, "layout.schedule_file '", l.schedule_file,
                  "' runs micro_batches=", s.micro_batches, " but layout.micro_batches is ", l.micro_batches,
                  ": set layout.micro_batches to ", s.micro_batches, " or use a schedule made for ", l.micro_batches);
    prefixed("layout.schedule_file", [&] { check_valid(s); });
    if (s.lowered()) s = strip_communication(s);  // the executor lowers it again; the plan holds compute only
    const std::string how = "pp " + std::to_string(s.pp) + " × v " + std::to_string(s.v) + " of layout.schedule_file";
    return {std::move(s), how};
  }
  const ScheduleKind* kind = find_schedule_kind(l.schedule);
  if (kind == nullptr) {
    std::string list;
    for (std::string_view n : schedule_names()) list += (list.empty() ? "" : ", ") + std::string(n);
    TRIDENT_FAIL("layout.schedule '", l.schedule, "' is not a schedule: use one of ", list,
                 ", or set layout.schedule_file to a schedule in text form");
  }
  TRIDENT_CHECK(kind->accepts_v(l.v), "layout.v is ", l.v, " but ", l.schedule, " runs ", kind->v_rule(),
                ": set layout.v accordingly, or pick a schedule whose chunk rule fits");
  const int v = kind->chunks_per_stage(l.v);
  // The generators own the micro-batch rules; building the schedule is the check.
  Schedule s;
  prefixed("layout.micro_batches", [&] { s = make_schedule(l.schedule, l.pp, v, l.micro_batches); });
  return {std::move(s), "layout.pp " + std::to_string(l.pp) + " × v " + std::to_string(v) + " for " + l.schedule};
}

std::vector<std::int64_t> resolve_layers(const TrainConfig& c, const Pipeline& p) {
  const auto& counts = c.layout.layers_per_chunk;
  if (counts.empty()) {
    TRIDENT_CHECK(c.model.layers >= p.chunks(), "model.layers ", c.model.layers, " is fewer than the ", p.chunks(),
                  " pipeline chunks (", p.how, "): each chunk needs at least one transformer block; use more ",
                  "layers, a smaller layout.pp or v, or list the blocks per chunk in layout.layers_per_chunk");
    return split_layers(c.model.layers, p.chunks());
  }
  TRIDENT_CHECK(static_cast<int>(counts.size()) == p.chunks(), "layout.layers_per_chunk has ", counts.size(),
                " entries but the pipeline has ", p.chunks(), " chunks (", p.how, "): give one block count per chunk");
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    TRIDENT_CHECK(counts[i] >= 0, "layout.layers_per_chunk[", i, "] is ", counts[i], ": use 0 or more blocks");
    sum += counts[i];
  }
  TRIDENT_CHECK(sum == c.model.layers, "layout.layers_per_chunk sums to ", sum, " but model.layers is ",
                c.model.layers, ": the counts must add up to the model's blocks");
  return counts;
}


// device, precision and comm: each parsed once, and their combinations checked.
void resolve_device(const TrainConfig& c, TrainPlan& plan) {
  prefixed("device", [&] { plan.device.device = Device::parse(c.device); });
  plan.device.local_gpu = c.device == "cuda";
  const bool on_gpu = plan.device.is_cuda();
  TRIDENT_CHECK(c.precision == "auto" || c.precision == "f32" || c.precision == "bf16", "precision is '", c.precision,
                "': use auto (bf16 on cuda, f32 on cpu), f32 or bf16");
  TRIDENT_CHECK(c.precision != "bf16" || on_gpu, "precision bf16 needs device cuda: the CPU op table computes in ",
                "f32 (set precision to f32 or auto, or device to cuda)");
  plan.compute_dtype = c.precision == "bf16" || (c.precision == "auto" && on_gpu) ? DType::kBF16 : DType::kF32;
  TRIDENT_CHECK(c.comm == "auto" || c.comm == "mpi" || c.comm == "nccl", "comm is '", c.comm,
                "': use auto (nccl on cuda when every rank has its own GPU, else mpi), mpi or nccl");
  TRIDENT_CHECK(c.comm != "nccl" || on_gpu, "comm nccl needs device cuda: NCCL moves GPU memory (set comm to mpi ",
                "or auto, or device to cuda)");
  plan.comm = parse_comm_backend(c.comm);
}

}  // namespace

std::vector<std::int64_t> split_layers(std::int64_t layers, int chunks, const std::vector<std::int64_t>& counts) {
  if (!counts.empty()) {
    TRIDENT_CHECK(static_cast<int>(counts.size()) == chunks, "layers per chunk lists ", counts.size(),
                  " chunks but the schedule has ", chunks, " (pp x v): give one count per chunk");
    std::int64_t sum = 0;
    for (std::int64_t n : counts) {
      TRIDENT_CHECK(n >= 0, "layers per chunk holds a negative count ", n);
      sum += n;
    }
    TRIDENT_CHECK(sum == layers, "layers per chunk sums to ", sum, " but the model has ", layers, " layers");
    return counts;
  }
  TRIDENT_CHECK(chunks >= 1, "a model is cut into at least one chunk, got ", chunks);
  std::vector<std::int64_t> out(static_cast<std::size_t>(chunks), layers / chunks);
  for (std::int64_t i = 0; i < layers % chunks; ++i) ++out[static_cast<std::size_t>(i)];
  return out;
}

TrainPlan resolve_plan(const TrainConfig& c) {
  check_sizes(c);
  c.model.validate();  // its messages name model.<field>
  check_magnitudes(c);
  check_optimizer(c.optimizer);
  const LayoutConfig& l = c.layout;
  TrainPlan plan;
  plan.model = c.model;
  prefixed("layout.order", [&] { plan.mesh = MeshLayout(l.dp, l.pp, l.tp, l.order); });
  prefixed("layout.recompute", [&] { plan.tp.recompute = parse_recompute(l.recompute); });
  plan.tp.sequence_parallel = l.sequence_parallel;
  resolve_device(c, plan);
  TRIDENT_CHECK(c.model.heads % l.tp == 0, "model.heads ", c.model.heads, " is not divisible by layout.tp ", l.tp,
                ": each TP rank holds heads/tp whole attention heads; use a layout.tp among ",
                divisors(c.model.heads), ", or change model.heads");
  const std::int64_t tokens = static_cast<std::int64_t>(l.micro_batch_size) * c.model.seq_len;
  TRIDENT_CHECK(!l.sequence_parallel || tokens % l.tp == 0, "layout.sequence_parallel splits a micro-batch's ",
                "micro_batch_size·seq_len = ", l.micro_batch_size, "·", c.model.seq_len, " = ", tokens,
                " tokens over layout.tp ", l.tp, ", which does not divide them: change layout.micro_batch_size or ",
                "model.seq_len, or set layout.sequence_parallel to false");
  Pipeline pipeline = resolve_schedule(l);
  plan.layers_per_chunk = resolve_layers(c, pipeline);
  plan.schedule = std::move(pipeline.schedule);
  plan.schedule_file = l.schedule_file;
  plan.v = l.v;
  plan.micro_batch_size = l.micro_batch_size;

  plan.dp.bucket_bytes = static_cast<std::size_t>(l.bucket_mb * 1024 * 1024);
  plan.dp.overlap = l.overlap_grad_reduce;
  plan.dp.zero = l.zero;
  const OptimizerConfig& o = c.optimizer;
  plan.adamw = AdamWConfig{static_cast<float>(o.beta1), static_cast<float>(o.beta2), static_cast<float>(o.eps),
                           static_cast<float>(o.weight_decay), o.grad_clip};
  plan.lr = LrSchedule{o.lr, o.min_lr, o.warmup_steps};
  plan.data = DataPlan{c.data.train, c.data.val, c.data.seed};
  plan.steps = c.steps;
  plan.eval_interval = c.eval_interval;
  plan.eval_batches = c.eval_batches;
  plan.checkpoint_interval = c.checkpoint_interval;
  plan.log_interval = c.log_interval;
  plan.max_consecutive_skips = c.max_consecutive_skips;
  plan.resume = c.resume;
  plan.init_from = c.init_from;
  plan.out_dir = c.out_dir;
  plan.peak_flops = c.peak_flops;
  return plan;
}

TrainConfig config_of(const TrainPlan& p) {
  TrainConfig c;
  c.model = p.model;
  LayoutConfig& l = c.layout;
  l.dp = p.mesh.dp();
  l.pp = p.mesh.pp();
  l.tp = p.mesh.tp();
  l.order = p.mesh.order();
  l.schedule = p.schedule_file.empty() ? p.schedule.name : LayoutConfig{}.schedule;
  l.schedule_file = p.schedule_file;
  l.micro_batches = p.micro_batches();
  l.micro_batch_size = p.micro_batch_size;
  l.v = p.v;
  l.layers_per_chunk = p.layers_per_chunk;
  l.sequence_parallel = p.tp.sequence_parallel;
  l.recompute = std::string(recompute_name(p.tp.recompute));
  l.zero = p.dp.zero;
  l.bucket_mb = static_cast<double>(p.dp.bucket_bytes) / (1024.0 * 1024.0);
  l.overlap_grad_reduce = p.dp.overlap;
  OptimizerConfig& o = c.optimizer;
  o.lr = p.lr.max_lr;
  o.min_lr = p.lr.min_lr;
  o.warmup_steps = p.lr.warmup_steps;
  o.beta1 = p.adamw.beta1;
  o.beta2 = p.adamw.beta2;
  o.eps = p.adamw.eps;
  o.weight_decay = p.adamw.weight_decay;
  o.grad_clip = p.adamw.grad_clip;
  c.data = DataConfig{p.data.train, p.data.val, p.data.seed};
  c.steps = p.steps;
  c.eval_interval = p.eval_interval;
  c.eval_batches = p.eval_batches;
  c.checkpoint_interval = p.checkpoint_interval;
  c.resume = p.resume;
  c.init_from = p.init_from;
  c.out_dir = p.out_dir;
  c.device = p.device.str();
  c.precision = std::string(dtype_name(p.compute_dtype));
  c.comm = std::string(comm_backend_name(p.comm));
  c.peak_flops = p.peak_flops;
  c.log_interval = p.log_interval;
  c.max_consecutive_skips = p.max_consecutive_skips;
  return c;
}

nlohmann::json to_json(const TrainPlan& plan) { return to_json(config_of(plan)); }

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::string plan_hash(const TrainPlan& plan) {
  const std::uint64_t h = fnv1a64(to_json(plan).dump());
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace trident
