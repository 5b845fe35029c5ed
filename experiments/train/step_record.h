// One optimizer step as the run reports it: a typed record with one JSON mapping — a line of
// <out_dir>/metrics.jsonl. Times in seconds, memory in bytes, rates per second. Every rank computes
// the same record from one all-gather of the ranks' own numbers (Trainer::train_step).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace trident {

// Communication time of the step per mesh group (the time the group's operations were in progress
// on a rank, communicator.h's busy_seconds): the most any rank spent.
struct CommSeconds {
  double tp = 0.0, pp = 0.0, dp = 0.0, embedding = 0.0;
};

// What the most-loaded rank's memory held at its peak (bytes; the parts sum to peak_mem_max):
// weights, gradients, optimizer state and communication buffers as data parallelism labels them
// (parallel/data_parallel.h), and the rest — activations, workspaces, pipeline buffers.
struct MemoryAtPeak {
  std::int64_t weights = 0, gradients = 0, optimizer_state = 0, comm_buffers = 0, activations = 0;
};

struct StepRecord {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  std::int64_t step = 0;              // 1-based optimizer step
  double loss = kNaN;                 // mean training loss of the step (NaN when non-finite)
  std::optional<double> val_loss;     // validation loss, on steps that evaluated
  double grad_norm = kNaN;            // global gradient norm before clipping (NaN when non-finite)
  double lr = 0.0;                    // learning rate the step used
  bool skipped = false;               // the loss or the gradient was non-finite: no update
  double step_time_s = 0.0;           // wall time of the step (the slowest rank)
  double tokens_per_s = 0.0;          // training tokens of the step / step_time_s, whole job
  double tflops_per_rank = 0.0;       // model FLOPs (GptConfig::flops_per_step) / step_time_s / ranks / 1e12
  double mfu = 0.0;                   // tflops_per_rank · 1e12 / peak FLOP/s per rank, in [0, 1]
  double bubble_s = 0.0;              // mean over ranks of the time the pipeline sat idle
  double bubble_frac = 0.0;           // bubble_s / step_time_s
  // The analyzer's bubble fraction for this schedule given this step's measured per-chunk F/B/I/W
  // times (transfers taken as free): what the schedule alone explains of bubble_frac.
  double predicted_bubble_frac = 0.0;
  CommSeconds comm_s;
  std::int64_t peak_mem_min = 0, peak_mem_max = 0;  // peak tracked device memory, least/most loaded rank
  std::vector<std::int64_t> peak_mem_per_stage;     // the most any rank of stage s held
  MemoryAtPeak peak_mem_breakdown;                  // of the rank that held peak_mem_max
  // Data-parallel communication: comm_s.dp is its total (the reductions and gathers in progress,
  // overlapped or not); dp_exposed_s the time the computation waited for it, the slowest rank's.
  double dp_exposed_s = 0.0;
};

// {"step", "loss", "val_loss"?, "grad_norm", "lr", "skipped", "step_time_s", "tokens_per_s",
//  "tflops_per_rank", "mfu", "bubble_s", "bubble_frac", "predicted_bubble_frac",
//  "comm_s": {"tp", "pp", "dp", "embedding"}, "dp_exposed_s",
//  "peak_mem_bytes": {"min", "max", "per_stage": [..],
//                     "breakdown": {"weights", "gradients", "optimizer_state", "comm_buffers", "activations"}}}.
// Non-finite numbers are written as null (JSON has no NaN).
nlohmann::json to_json(const StepRecord& r);
nlohmann::json to_json(const MemoryAtPeak& m);
MemoryAtPeak memory_at_peak_from_json(const nlohmann::json& j);
// The inverse; keys a record lacks keep their defaults (older files, hand-made fixtures).
StepRecord step_record_from_json(const nlohmann::json& j);

}  // namespace trident
