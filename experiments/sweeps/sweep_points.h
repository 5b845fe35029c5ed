// A sweep's points: the product of the spec's axes, filtered, each resolved once into the config
// its run takes, with the hash that identifies it across re-runs (resume) and the folder it runs in.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/plan/plan.h"
#include "experiments/sweeps/sweep_spec.h"

namespace trident {

struct SweepPoint {
  int index = 0;  // position in the spec's order (after filtering), 0-based
  std::vector<std::pair<std::string, nlohmann::json>> values;  // the grid's values, in grid order
  std::string label;                                           // "schedule=zb-h1 pp=4"
  // The resolved plan (out_dir = dir), or why the config does not resolve.
  std::optional<TrainPlan> plan;
  std::string error;
  // The config as JSON, without out_dir: to_json(*plan), or, when it does not resolve, the config
  // as read (defaults filled in), so the results still show what was asked for.
  nlohmann::json config_json;
  nlohmann::json tags = nlohmann::json::object();  // {"tag.scaling": "weak"}
  // 16 hex digits: plan_hash of the plan without out_dir (and of the tags, when there are some);
  // for a config that does not resolve, of the config as read.
  std::string hash;
  std::string dir;   // absolute: <out>/<label>-<hash prefix>
  int world_size = 0;
};

// Expands `spec` into points under `out_dir` (made absolute). Filters see each point's config
// (resolved, or as read) plus world_size and the tags. A point whose config does not resolve is
// kept, with the error: it will be recorded failed, and the sweep goes on.
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec, const std::string& out_dir);

// The value of a dotted key in a config JSON (null when absent).
nlohmann::json value_at(const nlohmann::json& config, const std::string& dotted_key);

}  // namespace trident
