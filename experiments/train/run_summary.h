// A run in numbers: aggregates over its steps after warm-up, the final losses and the peaks —
// <out_dir>/summary.json, the table `trident train` prints at the end, and a sweep's CSV row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/train/step_record.h"

namespace trident {

struct Quantiles {
  double median = 0.0, p10 = 0.0, p90 = 0.0, mean = 0.0;
};

struct RunSummary {
  std::int64_t steps = 0;          // records summarised (the last step number when records carry one)
  std::int64_t skipped = 0;        // steps whose update was skipped (non-finite loss or gradient)
  std::int64_t warmup_steps = 0;   // leading steps left out of the aggregates (allocation, page faults)
  std::int64_t aggregated_steps = 0;
  double final_loss = StepRecord::kNaN;
  std::optional<double> final_val_loss;
  std::int64_t final_val_step = 0;
  // Over the aggregated steps. Rates are total work over total time (a step-time-weighted mean of
  // the per-step rates), not a plain mean of rates.
  Quantiles step_time_s;
  double tokens_per_s = 0.0, tflops_per_rank = 0.0, mfu = 0.0;
  double bubble_s = 0.0, bubble_frac = 0.0, predicted_bubble_frac = 0.0;
  CommSeconds comm_s;                               // mean per step
  double dp_exposed_s = 0.0;                        // mean per step: the part of comm_s.dp not hidden
  std::int64_t peak_mem_min = 0, peak_mem_max = 0;  // the largest over all steps
  std::vector<std::int64_t> peak_mem_per_stage;
  MemoryAtPeak peak_mem_breakdown;                  // of the step with the largest peak_mem_max
};

RunSummary summarize(const std::vector<StepRecord>& records);
nlohmann::json to_json(const RunSummary& s);
// The plain-text table printed at the end of a run.
std::string summary_table(const RunSummary& s);

}  // namespace trident
