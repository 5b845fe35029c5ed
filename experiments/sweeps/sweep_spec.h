// A sweep spec: the experiment as data. `trident sweep SPEC.json --out DIR` reads one:
//
//   {
//     "description": "free text, shown when the sweep starts",            optional
//     "base":  { <a train config, partial: defaults fill the rest> },       optional, default {}
//     "grid":  { "layout.schedule": ["1f1b", "zb-h1"], "layout.pp": [2, 4] },   required, non-empty
//     "zip":   [["layout.pp", "model.layers"]],      grid keys whose lists vary together (same length)
//     "filter": ["layout.dp * layout.pp * layout.tp == 8"],   points kept when every rule holds (filter.h)
//     "plots": ["compare", "memory"],                 drawn into DIR/plots/ when the sweep ends
//     "timeout_s": 600,                               per point, wall clock (default 1800)
//     "launcher": "local",                            local (mpirun here) or slurm (--launcher overrides)
//     "gpus_per_node": 8,                             slurm: ranks per node (one rank per GPU)
//     "slurm": {"partition": "gpu", "account": "proj", "sbatch_args": ["--qos=high"], "max_jobs": 0},
//     "sim_cluster": "cpu"                            the cluster `trident simulate` models each point on
//   }                                                 (default cpu: this kind of machine; "" skips it)
//
// Grid keys are dotted train-config keys (experiments/plan/train_config.h) or tags: `tag.NAME`
// keys label points (a CSV column; e.g. tag.scaling = weak | strong) without entering the config.
// Every key and value is checked against the config's keys and types when the spec is read; each
// error names the field (`grid.layout.dp[1]`) and what it should be. A point's rank count is its
// layout.dp × layout.pp × layout.tp.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/sweeps/filter.h"

namespace trident {

// One axis of the product: a single grid key, or a zip group of keys that vary together.
struct GridAxis {
  std::vector<std::string> keys;
  std::vector<std::vector<nlohmann::json>> rows;  // rows[i][k]: the value of keys[k] at position i
};

struct SlurmOptions {
  std::string partition, account;        // #SBATCH --partition / --account when set
  std::vector<std::string> sbatch_args;  // further #SBATCH lines, e.g. "--qos=high"
  int max_jobs = 0;                      // jobs queued at once; 0: every pending point
};

struct SweepSpec {
  std::string source;       // the file it came from (for messages)
  std::string description;
  nlohmann::json base = nlohmann::json::object();
  std::vector<std::string> keys;  // grid keys, in the spec's order
  std::vector<GridAxis> axes;     // the product's axes, outermost (slowest-varying) first
  std::vector<Filter> filters;
  std::vector<std::string> plots;  // compare | scaling | memory | timeline
  double timeout_s = 1800;
  std::string launcher = "local";
  int gpus_per_node = 8;
  SlurmOptions slurm;
  std::string sim_cluster = "cpu";

  std::size_t product_size() const;  // points before filtering
};

// Names that are valid plot kinds, for `plots` and `trident plot`.
const std::vector<std::string>& plot_kinds();
// Names a filter may use besides config keys.
bool is_tag_key(const std::string& key);

// Throws trident::Error naming `source` and the field on any problem with the spec's shape, keys
// or value types. (Combinations that do not make a valid run are points that fail, not spec errors.)
SweepSpec parse_sweep_spec(const nlohmann::ordered_json& spec, const std::string& source);
SweepSpec load_sweep_spec(const std::string& path);

}  // namespace trident
