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
  // Time a RECV holds its stage once the stage reaches it: 0 for receives posted ahead (trident's
  // executor, ReceiveQueue), the transfer time for receives posted on demand and waited for
  // (Megatron's blocking p2p). A receive ends at max(reached + recv, sent + p2p).
  double recv = 0.0;
  // Optional per-chunk costs {f, b, i, w}, indexed by global chunk; when present they replace the
  // uniform ones (measured costs differ by chunk: the first holds the embedding, the last the
  // output layer and loss).
  std::vector<std::array<double, 4>> per_chunk;
  // A single action's time (an FB is not a single action: use the overload below).
  double of(ActionType t, int chunk = -1) const;
  // Any action's time; an overlapped FB costs its two halves back to back, as the executor runs
  // them on one compute stream.
  double of(const Action& a) const;
};

struct TimedAction {
  int stage = 0;
  Action action;
  double start = 0.0, end = 0.0;
};

// Two bubbles per stage. `bubble` is what trident pays: a step ends when the slowest stage ends
// (the optimizer's global-norm all-reduce and DP sync follow), so a stage idles from 0 to its first
// action and from its last to the makespan. `span_bubble` is the idle time between a stage's own
// first and last action: what a stage pays when consecutive steps overlap (the zero-bubble papers'
// optimizer post-validation), and the bubble those papers quote (their bubble rate is
// 1 − busy / longest stage span); ZB-H2 and ZB-V are zero-bubble in this sense.
struct Analysis {
  double makespan = 0.0;
  std::vector<double> busy;             // per stage: time in compute actions
  std::vector<double> bubble;           // per stage: makespan − busy
  std::vector<double> bubble_fraction;  // per stage: bubble / makespan
  std::vector<double> span;             // per stage: end of its last action − start of its first
  std::vector<double> span_bubble;      // per stage: span − busy
  std::vector<int> peak_stash;          // per stage: max (mb, chunk) activations held (F done, B/W not)
  std::vector<TimedAction> timeline;    // every action, in start order per stage
};

// Simulates the lowered form of `s` (lowering it first if needed; it must be valid). Sends take
// no time; a receive completes at max(now + recv, send time + p2p). Throws if the schedule deadlocks.
Analysis analyze(const Schedule& s, const ActionCosts& costs);

}  // namespace trident
