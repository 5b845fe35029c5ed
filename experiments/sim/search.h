// `trident search`: the best layouts of a model for a device count, a global batch and a cluster.
//
// Enumerates every valid (tp, pp, dp, v, micro_batch_size, schedule, recompute, sequence
// parallelism, ZeRO stage) of the base config — tp dividing the heads and within a node, pp up to
// the layers, dp = devices / (tp · pp) dividing the global batch, micro-batch sizes 1, 2, 4, 8
// dividing the per-replica batch, every schedule of the registry (interleaved with every v whose
// chunks each get a block), recompute none / selective / full, sequence parallelism with tp > 1,
// every ZeRO stage with dp > 1 — resolves each through resolve_plan (the same checks `trident
// train` makes), drops what does not fit the device's memory (memory_model.h) and simulates the
// rest. Chunk recordings are shared between candidates with the same chunk shapes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/plan/train_config.h"
#include "experiments/sim/cluster.h"

namespace trident {

struct SearchSpace {
  int devices = 8;
  std::int64_t global_batch = 0;  // sequences per step
  std::vector<int> micro_batch_sizes = {1, 2, 4, 8};
  std::vector<std::string> recompute = {"none", "selective", "full"};
  int max_v = 4;                  // interleaved: chunks per stage tried
};

struct SearchRow {
  int tp = 1, pp = 1, dp = 1, v = 1, micro_batch_size = 1, micro_batches = 1, zero = 0;
  std::string schedule, recompute;
  bool sequence_parallel = false;
  bool fits = false;
  std::int64_t peak_memory_bytes = 0;
  std::string biggest_memory_term;
  double step_time_s = 0.0, tokens_per_s = 0.0, mfu = 0.0, bubble_frac = 0.0;
};

struct SearchResult {
  std::vector<SearchRow> rows;  // fitting rows by tokens/s (best first), then the ones that do not fit
  int candidates = 0;           // valid plans found
  int simulated = 0;
  double wall_s = 0.0;
};

// `base`: the config every candidate starts from (model, precision, device, buckets, ...).
// `progress` gets a line now and then (search can take a while on big spaces).
SearchResult search_layouts(const TrainConfig& base, const SearchSpace& space, const ClusterSpec& cluster,
                            const std::function<void(const std::string&)>& progress = {});

std::string search_csv(const SearchResult& result);
std::string search_table(const SearchResult& result, std::size_t top);

}  // namespace trident
