// A sweep's results: DIR/results.jsonl (append-only, one record per finished attempt, never
// rewritten) and DIR/results.csv (rewritten atomically after every point from the latest record of
// each point of the spec, in the spec's order). The two hold the same rows: the CSV is the table,
// the JSON lines keep types (numbers, arrays) and history. A sweep killed at any moment leaves both
// whole: a JSON line reaches the file in one write(2), and the CSV is replaced by rename.
//
// Columns, in order (the CSV header is the union over rows, in this order):
//   point, label, hash                      spec position, the grid values, the config's hash
//   <config keys>                           the resolved config, dotted (model.*, layout.*, optimizer.*,
//                                           data.*, then top-level keys; out_dir is the `dir` column)
//   tag.*                                   the point's tags
//   world_size                              dp·pp·tp
//   steps_run, warmup_steps                 from the run's summary.json: aggregates are over the
//   step_time_median_s, _p10_s, _p90_s, _mean_s   steps after warm-up
//   tokens_per_s, tflops_per_rank, mfu
//   bubble_frac, analyzer_bubble_frac       measured pipeline bubble, and the analyzer's prediction for
//                                           the run's schedule with its measured action costs
//   comm_tp_s, comm_pp_s, comm_dp_s, comm_embedding_s   blocking communication per step, per axis
//   peak_mem_min_bytes, peak_mem_max_bytes, peak_mem_per_stage_bytes   (per stage: ';'-separated in the CSV)
//   final_loss, final_val_loss
//   sim_cluster, sim_step_time_s,           `trident simulate` of the same config on the spec's sim_cluster
//   sim_tokens_per_s, sim_mfu,              (<dir>/sim.json; empty when not simulated)
//   sim_bubble_frac, sim_peak_mem_max_bytes,
//   sim_peak_mem_per_stage_bytes            (';'-separated, beside peak_mem_per_stage_bytes)
//   status, error, exit_code, wall_s, dir   ok | failed | timeout; the error line; the point's folder
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/sweeps/sweep_points.h"

namespace trident {

// How one attempt at a point ended.
struct PointOutcome {
  std::string status;  // "ok", "failed", "timeout"
  std::string error;   // empty when ok
  int exit_code = 0;
  double wall_s = 0;
};

// The row for a point: its config and tags, the aggregates of its run (read from <dir>/summary.json
// when it exists; absent fields are null), the simulator's prediction (<dir>/sim.json), and how it
// ended.
nlohmann::ordered_json result_row(const SweepPoint& point, const PointOutcome& outcome);

class SweepResults {
 public:
  // Reads DIR/results.jsonl if there is one (a sweep being resumed).
  explicit SweepResults(const std::string& dir);

  // The latest record of the point with this hash, if any attempt finished.
  const nlohmann::ordered_json* latest(const std::string& hash) const;
  bool complete(const std::string& hash) const;  // its latest record has status ok

  // Appends `row` to results.jsonl and rewrites results.csv for `points` (rows of points without a
  // record are left out; a record's point and label are those of the current spec).
  void add(const nlohmann::ordered_json& row, const std::vector<SweepPoint>& points);
  void rewrite_csv(const std::vector<SweepPoint>& points) const;

  std::string csv_path() const;
  std::string jsonl_path() const;

 private:
  std::string dir_;
  std::map<std::string, nlohmann::ordered_json> latest_;  // by hash
};

// CSV text of rows: header = union of keys in order of first appearance; strings quoted when they
// hold a comma, quote or newline; arrays joined by ';'; null empty.
std::string to_csv(const std::vector<nlohmann::ordered_json>& rows);

}  // namespace trident
