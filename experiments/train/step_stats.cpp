#include "experiments/train/step_stats.h"

#include <algorithm>
#include <numeric>

#include "schedules/analyzer.h"
#include "schedules/trace_costs.h"

namespace trident {

namespace {

// The fixed part of a rank's vector: step, idle, tp, pp, dp, embedding, peak, the peak's breakdown
// (weights, gradients, optimizer state, comm buffers, activations), DP exposed.
constexpr std::size_t kFixed = 13;

// The analyzer's mean bubble fraction for `s` with the measured per-chunk mean F/B/I/W times.
double predicted_bubble(const Schedule& s, const std::vector<double>& sums) {
  const Analysis a = analyze(s, mean_action_costs(sums));
  if (a.makespan <= 0) return 0.0;
  return std::accumulate(a.bubble_fraction.begin(), a.bubble_fraction.end(), 0.0) /
         static_cast<double>(a.bubble_fraction.size());
}

}  // namespace

RankStepStats rank_stats(const ExecutionStats& run, const Schedule& s) {
  RankStepStats r;
  r.idle_s = run.step_s - run.compute_s;
  r.chunk_times = action_time_sums(s.num_chunks());
  add_action_times(run.timeline, r.chunk_times);
  return r;
}

StepRecord gather_step_record(Communicator& world, const MeshLayout& mesh, const Schedule& s,
                              const RankStepStats& mine, const StepTotals& totals) {
  const std::size_t width = kFixed + mine.chunk_times.size();
  Tensor local = Tensor::empty({static_cast<std::int64_t>(width)}, DType::kF64);
  double* v = local.data<double>();
  const MemoryAtPeak& b = mine.at_peak;
  const double fixed[kFixed] = {mine.step_s,
                                mine.idle_s,
                                mine.comm.tp,
                                mine.comm.pp,
                                mine.comm.dp,
                                mine.comm.embedding,
                                mine.peak_bytes,
                                static_cast<double>(b.weights),
                                static_cast<double>(b.gradients),
                                static_cast<double>(b.optimizer_state),
                                static_cast<double>(b.comm_buffers),
                                static_cast<double>(b.activations),
                                mine.dp_exposed_s};
  std::copy(fixed, fixed + kFixed, v);
  std::copy(mine.chunk_times.begin(), mine.chunk_times.end(), v + kFixed);
  Tensor all = Tensor::empty({static_cast<std::int64_t>(width) * world.size()}, DType::kF64);
  world.all_gather(local, all);

  StepRecord r;
  r.step = totals.step;
  r.loss = totals.loss;
  r.grad_norm = totals.grad_norm;
  r.lr = totals.lr;
  r.skipped = totals.skipped;
  std::vector<double> chunk_sums(mine.chunk_times.size(), 0.0);
  r.peak_mem_per_stage.assign(static_cast<std::size_t>(mesh.pp()), 0);
  r.peak_mem_min = -1;
  double idle = 0.0;
  for (int rank = 0; rank < world.size(); ++rank) {
    const double* x = all.data<double>() + static_cast<std::size_t>(rank) * width;
    r.step_time_s = std::max(r.step_time_s, x[0]);
    idle += x[1];
    r.comm_s.tp = std::max(r.comm_s.tp, x[2]);
    r.comm_s.pp = std::max(r.comm_s.pp, x[3]);
    r.comm_s.dp = std::max(r.comm_s.dp, x[4]);
    r.comm_s.embedding = std::max(r.comm_s.embedding, x[5]);
    const auto peak = static_cast<std::int64_t>(x[6]);
    if (rank == 0 || peak > r.peak_mem_max)
      r.peak_mem_breakdown = {static_cast<std::int64_t>(x[7]), static_cast<std::int64_t>(x[8]),
                              static_cast<std::int64_t>(x[9]), static_cast<std::int64_t>(x[10]),
                              static_cast<std::int64_t>(x[11])};
    r.dp_exposed_s = std::max(r.dp_exposed_s, x[12]);
    r.peak_mem_max = std::max(r.peak_mem_max, peak);
    r.peak_mem_min = r.peak_mem_min < 0 ? peak : std::min(r.peak_mem_min, peak);
    std::int64_t& stage_peak = r.peak_mem_per_stage[static_cast<std::size_t>(mesh.coord(rank).pp)];
    stage_peak = std::max(stage_peak, peak);
    for (std::size_t i = 0; i < chunk_sums.size(); ++i) chunk_sums[i] += x[kFixed + i];
  }
  const double ranks = static_cast<double>(world.size());
  r.tokens_per_s = totals.tokens / r.step_time_s;
  r.tflops_per_rank = totals.model_flops / r.step_time_s / ranks / 1e12;
  r.mfu = totals.peak_flops > 0 ? totals.model_flops / r.step_time_s / ranks / totals.peak_flops : 0.0;
  r.bubble_s = idle / ranks;
  r.bubble_frac = r.bubble_s / r.step_time_s;
  r.predicted_bubble_frac = predicted_bubble(s, chunk_sums);
  return r;
}

}  // namespace trident
