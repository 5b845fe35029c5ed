// From every rank's own numbers to the step's record. Each rank measures its step (time, idle time
// in the pipeline, blocking communication per group, peak memory, per-chunk action times); one
// all-gather of a fixed-size f64 vector brings every rank's numbers to every rank, and each reduces
// them the same way (max, mean, per-stage max, per-chunk means) into the same StepRecord. f64
// throughout: byte counts and times do not lose digits to f32.
#pragma once

#include <vector>

#include "experiments/train/step_record.h"
#include "parallel/communicator.h"
#include "parallel/mesh_layout.h"
#include "schedules/executor.h"
#include "schedules/schedule.h"

namespace trident {

// What one rank measured of one step.
struct RankStepStats {
  double step_s = 0.0;           // this rank's wall time of the step
  double idle_s = 0.0;           // executor wall time outside F/B/I/W (the bubble, seen from here)
  CommSeconds comm;              // blocking time per group on this rank
  double peak_bytes = 0.0;       // peak tracked device memory
  MemoryAtPeak at_peak;          // what it held then (activations: the unlabelled rest)
  double dp_exposed_s = 0.0;     // time the computation waited for DP communication
  // Per global chunk c and action type t in {F, B, I, W}: summed durations [c·8 + t] and counts
  // [c·8 + 4 + t] of the compute actions this rank ran (schedules/trace_costs.h's sums).
  std::vector<double> chunk_times;
};

// The rank's stats of a step from the executor's timeline (chunk_times sized for `s`).
RankStepStats rank_stats(const ExecutionStats& run, const Schedule& s);

// What every rank already agrees on about the step.
struct StepTotals {
  std::int64_t step = 0;
  double loss = 0.0, grad_norm = 0.0, lr = 0.0;
  bool skipped = false;
  double tokens = 0.0;       // training tokens of the step, whole job
  double model_flops = 0.0;  // GptConfig::flops_per_step of the global batch
  double peak_flops = 0.0;   // per rank
};

// Collective over `world` (laid out by `mesh`; `s` the schedule the ranks ran).
StepRecord gather_step_record(Communicator& world, const MeshLayout& mesh, const Schedule& s,
                              const RankStepStats& mine, const StepTotals& totals);

}  // namespace trident
