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

// Blocking communication time of the step per mesh group: the most any rank spent.
struct CommSeconds {
  double tp = 0.0, pp = 0.0, dp = 0.0, embedding = 0.0;
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
};

// {"step", "loss", "val_loss"?, "grad_norm", "lr", "skipped", "step_time_s", "tokens_per_s",
//  "tflops_per_rank", "mfu", "bubble_s", "bubble_frac", "predicted_bubble_frac",
//  "comm_s": {"tp", "pp", "dp", "embedding"}, "peak_mem_bytes": {"min", "max", "per_stage": [..]}}.
// Non-finite numbers are written as null (JSON has no NaN).
nlohmann::json to_json(const StepRecord& r);
// The inverse; keys a record lacks keep their defaults (older files, hand-made fixtures).
StepRecord step_record_from_json(const nlohmann::json& j);

}  // namespace trident
