// One simulated training step of a plan on a cluster: the library call behind `trident simulate`,
// `trident search` and the sweeps' "simulated beside measured".
//
//   chunk ops      recorded from the layer code on a meta device (chunk_ops.h)
//   action costs   op and TP-collective times on the cluster (cost_model.h)
//   pipeline       DES of the lowered schedule, one representative rank per stage (timeline.h)
//   gradients      GradSync's order: TP partial sums when final, tied wte summed over the
//                  embedding group after the schedule, DP buckets (trident's packing and order)
//                  reduced on a DP stream as soon as their last tensor is final (overlap on), or
//                  all at the end (overlap off); all-reduce (ZeRO 0) or reduce-scatter (ZeRO ≥ 1)
//   optimizer      the loss and the gradient norm are world all-reduces every rank waits for; then
//                  AdamW over the rank's shard, the ZeRO all-gather of the parameters and the bf16
//                  copies' refresh
//   memory         memory_model.h
//
// Conventions of the report: mfu is model FLOPs per step (GptConfig::flops_per_step: Korthikanti
// et al.'s 72·B·s·l·h²(1 + s/6h + V/12lh), no recompute; SC21 eq. 3 without its recompute term)
// per device over the dtype's dense peak; hfu counts every GEMM and attention FLOP the recorded ops
// execute (recompute included; causal attention in full). bubble_frac is the mean over ranks of
// (pipeline time − compute time) / step time, as `trident train` measures it.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trace.h"
#include "experiments/plan/plan.h"
#include "experiments/sim/cluster.h"
#include "experiments/sim/memory_model.h"
#include "experiments/sim/timeline.h"

namespace trident {

// What a search carries from one simulation to the next. It simulates the ZeRO stages of a layout
// one after another, and they share
//  - the cost-aware schedule (ZB-1p / ZB-2p): ZeRO does not change the action costs it is built
//    from, and it costs far more to build than to simulate;
//  - the pipeline timeline: ZeRO 0-2 change neither the schedule nor any cost the DES reads
//    (ZeRO-3 adds parameter gathers).
// Each is the last one made, kept with everything it was made from, and reused only when all of
// that is equal.
struct SimReuse {
  // The last cost-aware schedule and what it was built from.
  std::string name;
  int pp = 0, v = 0, m = 0;
  std::vector<std::array<double, 4>> per_chunk;
  double p2p = 0.0, recv = 0.0;
  Schedule schedule;
  // The last timeline and what it was simulated from.
  Schedule timed;
  TimelineCosts costs;
  PipelineTimeline timeline;
};

struct SimOptions {
  bool trace = true;   // build the Chrome trace events
  bool memory = true;  // estimate memory (a search that already has the estimate skips it)
  SimReuse* reuse = nullptr;  // optional: reuse (and keep) the last schedule built and timeline made
};

struct StageResult {
  int stage = 0;
  int rank = 0;              // representative world rank: dp 0, tp 0
  double pipeline_s = 0.0;   // end of the stage's last schedule action
  double compute_s = 0.0;    // in F, B, I, W (TP collectives inside them included)
  double bubble_s = 0.0;     // pipeline_s − compute_s
  double tp_comm_s = 0.0;    // TP collectives inside actions (and GradSync's partial sums)
  double pp_wait_s = 0.0;    // blocked in receives (bubble and transfers)
  double pp_transfer_s = 0.0;  // the part of those waits spent on transfers
  double embedding_s = 0.0;  // tied wte all-reduce
  double dp_comm_s = 0.0;    // DP reductions in total (overlapped or not)
  double dp_exposed_s = 0.0; // waiting for DP reductions after the schedule
  double optimizer_s = 0.0;  // norm, AdamW, ZeRO gather, bf16 refresh
  double end_s = 0.0;        // the stage's step end
  double matmul_flops = 0.0; // GEMM + attention FLOPs one rank of the stage executes per step
  // One micro-batch through all the stage's chunks: F, I and W (B = I + W), as costed.
  double f_s = 0.0, i_s = 0.0, w_s = 0.0;
};

struct SimResult {
  std::string cluster;
  int world_size = 1;
  double step_time_s = 0.0;
  double tokens_per_s = 0.0;
  double model_tflops_per_device = 0.0;
  double mfu = 0.0, hfu = 0.0;
  double peak_flops = 0.0;   // per device, the compute dtype's dense peak
  double bubble_frac = 0.0;
  struct Exposed {
    double tp = 0.0, pp = 0.0, dp = 0.0, embedding = 0.0;
  } exposed_comm_s;          // the most any stage spent with its compute stream waiting on each axis
  std::vector<StageResult> stages;
  MemoryEstimate memory;
  std::vector<TraceEvent> trace;
  TraceNames trace_names;
  double wall_s = 0.0;       // how long the simulation took
};

SimResult simulate(const TrainPlan& plan, const ClusterSpec& cluster, const SimOptions& options = {});
// With the chunk recordings of `recorder` (made for chunk_context(plan, the cluster's device type)):
// a search simulates many plans that share chunks, and records each chunk once.
SimResult simulate(const TrainPlan& plan, const ClusterSpec& cluster, ChunkRecorder& recorder,
                   const SimOptions& options = {});

// {"step_time_s", "tokens_per_s", "model_tflops_per_device", "mfu", "hfu", "bubble_frac",
//  "exposed_comm_s": {...}, "fits_memory", "stages": [{..., "peak_memory_bytes", "memory": {...}}], ...}
nlohmann::json to_json(const SimResult& result);
// The summary table `trident simulate` prints (like `trident train`'s).
std::string summary_table(const SimResult& result);
void write_sim_trace(const std::string& path, const SimResult& result);

}  // namespace trident
