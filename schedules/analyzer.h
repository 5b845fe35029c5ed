// The analyzer: runs a schedule's action lists against modelled costs instead of real work, the
// same lists the executor runs, and measures what researchers compare schedules by.
#pragma once

#include <array>
#include <vector>

#include "schedules/schedule.h"

namespace trident {

// Time of one action of one chunk (a chunk holds 1/v of a stage's layers, so a chunk's costs are
// the per-stage costs divided by v when v > 1). b is a full backward; i and w its two halves.
struct ActionCosts {
  double f = 1.0, b = 2.0, i = 1.0, w = 1.0;
  double p2p = 0.0;  // latency from a SEND to the matching RECV being satisfiable
  // Optional per-chunk costs {f, b, i, w}, indexed by global chunk; when present they replace the
  // uniform ones (measured costs differ by chunk: the first holds the embedding, the last the
  // output layer and loss).
  std::vector<std::array<double, 4>> per_chunk;
  double of(ActionType t, int chunk = -1) const;
};

struct TimedAction {
  int stage = 0;
  Action action;
  double start = 0.0, end = 0.0;
};

struct Analysis {
  double makespan = 0.0;
  std::vector<double> busy;             // per stage: time in compute actions
  std::vector<double> bubble;           // per stage: makespan − busy
  std::vector<double> bubble_fraction;  // per stage: bubble / makespan
  std::vector<int> peak_stash;          // per stage: max (mb, chunk) activations held (F done, B/W not)
  std::vector<TimedAction> timeline;    // every action, in start order per stage
};

// Simulates the lowered form of `s` (lowering it first if needed; it must be valid). Sends take
// no time; a receive completes at max(now, send time + p2p). Throws if the schedule deadlocks.
Analysis analyze(const Schedule& s, const ActionCosts& costs);

}  // namespace trident
