#include "experiments/sim/memory_model.h"

#include <algorithm>
#include <cstdio>

#include "experiments/sim/dp_model.h"
#include "schedules/lowering.h"

namespace trident {

std::pair<std::string, std::int64_t> MemoryBreakdown::biggest() const {
  std::pair<std::string, std::int64_t> best{"weights", weights};
  for (const auto& [name, v] : {std::pair<const char*, std::int64_t>{"gradients", gradients},
                                {"optimizer state", optimizer_state},
                                {"activations", activations},
                                {"communication buffers", communication}})
    if (v > best.second) best = {name, v};
  return best;
}

int MemoryEstimate::worst_stage() const {
  int worst = 0;
  for (std::size_t s = 0; s < stages.size(); ++s)
    if (stages[s].total() > stages[static_cast<std::size_t>(worst)].total()) worst = static_cast<int>(s);
  return worst;
}

std::int64_t MemoryEstimate::peak_bytes() const {
  return stages.empty() ? 0 : stages[static_cast<std::size_t>(worst_stage())].total();
}

std::string format_bytes(double bytes) {
  char buf[32];
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) bytes /= 1024.0, ++u;
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

std::string MemoryEstimate::advice() const {
  const int s = worst_stage();
  const MemoryBreakdown& m = stages[static_cast<std::size_t>(s)];
  const auto [name, bytes] = m.biggest();
  std::string knob;
  if (name == "activations") knob = "layout.recompute selective or full, a smaller layout.micro_batch_size, "
                                    "layout.sequence_parallel with tp > 1, or more layout.pp / layout.tp";
  else if (name == "communication buffers") knob = "fewer layout.micro_batches per step (sent activations are held until the step ends), or more layout.tp";
  else knob = "more layout.tp or layout.pp, or ZeRO (layout.zero) to shard it over layout.dp";
  return "stage " + std::to_string(s) + " needs " + format_bytes(static_cast<double>(m.total())) + " per device" +
         (capacity_bytes > 0 ? " of " + format_bytes(static_cast<double>(capacity_bytes)) : std::string()) +
         "; the biggest term is " + name + " (" + format_bytes(static_cast<double>(bytes)) + "): try " + knob;
}

ChunkContext chunk_context(const TrainPlan& plan, DeviceType device) {
  return ChunkContext{plan.model, plan.mesh.tp(), 0, plan.tp, plan.micro_batch_size, plan.compute_dtype, device};
}

MemoryEstimate estimate_memory(const TrainPlan& plan, ChunkRecorder& recorder, std::int64_t capacity_bytes,
                               const Schedule* schedule) {
  const Schedule& steps = schedule ? *schedule : plan.schedule;
  const Schedule lowered = lower(steps);
  const int last = lowered.num_chunks() - 1;
  auto chunk = [&](int c) -> const ChunkOps& {
    return recorder.get(plan.layers_per_chunk[static_cast<std::size_t>(c)], c == 0, c == last);
  };
  std::vector<const ChunkOps*> ops;
  for (int c = 0; c <= last; ++c) ops.push_back(&chunk(c));
  const int dp = plan.mesh.dp(), zero = dp > 1 ? plan.dp.zero : 0;
  // Every stage holds the step's token ids and targets (GptPipelineStage::set_batch), i32.
  const std::int64_t batch_bytes = 2 * 4 * static_cast<std::int64_t>(plan.micro_batches()) * plan.micro_batch_size *
                                   plan.model.seq_len;
  constexpr int kPrefetch = 4;  // ExecutorOptions::prefetch_receives

  MemoryEstimate est;
  est.capacity_bytes = capacity_bytes;
  for (int p = 0; p < lowered.pp; ++p) {
    MemoryBreakdown m;
    // Model states as DataParallel keeps them (dp_model.h), plus the compute-dtype copies of the
    // GEMM weights (layers/parameter.h), which ZeRO-3 holds only for its share.
    const StageDp d = stage_dp(steps, p, ops, dp, plan.dp);
    std::int64_t copies = 0, boundary = 0;
    for (int c : lowered.chunks_of(p)) {
      copies += chunk(c).compute_copy_elements;
      boundary = std::max(boundary, chunk(c).boundary_bytes);
    }
    const std::int64_t copy_bytes =
        plan.compute_dtype == DType::kF32 ? 0 : copies * static_cast<std::int64_t>(dtype_size(plan.compute_dtype));
    m.weights = d.model_state[MemoryKind::kWeights] + copy_bytes / (zero == 3 ? dp : 1);
    m.gradients = d.model_state[MemoryKind::kGradients];
    m.optimizer_state = d.model_state[MemoryKind::kOptimizerState];
    // ZeRO-2/3: a bucket's micro-batch gradients from its first accumulation until its
    // reduce-scatter completes — the one accumulating, those being reduced (DataParallel holds them
    // to the largest bucket's size), and a tied copy's, which stays open from the output layer's
    // backward to the embedding's; ZeRO-3: a bucket's gathered parameters while its layers compute,
    // and the next one prefetched.
    if (zero >= 2) m.communication += 4 * (2 * d.largest_bucket + d.tied_elements);
    if (zero == 3) m.communication += 2 * 4 * d.largest_bucket;

    // Replay the stage's list: `held` stashes, `sent` buffers kept until the step ends.
    std::int64_t held = 0, sent = 0, receives = 0, peak = -1, peak_act = 0, peak_sent = 0;
    auto at = [&](std::int64_t working) {
      if (held + working + sent > peak) peak = held + working + sent, peak_act = held + working, peak_sent = sent;
    };
    for (const Action& a : lowered.stages[static_cast<std::size_t>(p)]) {
      if (a.is_send()) sent += boundary;
      if (a.is_recv()) ++receives;
      if (!a.is_compute()) continue;
      for (const Action& half : parts(a)) {
        const ChunkOps& ops = chunk(half.chunk);
        switch (half.type) {
          case ActionType::kF:
            at(ops.work_forward);
            held += ops.stash_forward;
            break;
          case ActionType::kI:
            at(ops.work_input);
            held += ops.stash_input - ops.stash_forward;
            break;
          case ActionType::kW:
            at(ops.work_weight);
            held -= ops.stash_input;
            break;
          case ActionType::kB:
            at(ops.work_input);
            at(ops.stash_input - ops.stash_forward + ops.work_weight);
            held -= ops.stash_forward;
            break;
          default: break;
        }
      }
    }
    m.activations = peak_act + batch_bytes;
    m.communication += peak_sent + std::min<std::int64_t>(kPrefetch, receives) * boundary;
    est.stages.push_back(m);
  }
  return est;
}

MemoryEstimate estimate_memory(const TrainPlan& plan, DeviceType device, std::int64_t capacity_bytes) {
  ChunkRecorder recorder(chunk_context(plan, device));
  return estimate_memory(plan, recorder, capacity_bytes);
}

}  // namespace trident
