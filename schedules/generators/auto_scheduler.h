// The cost-aware automatic scheduler: given per-chunk F, I, W and point-to-point costs and a
// per-stage activation-memory cap, a valid I/W-split schedule with a short makespan.
//
// The makespan is the analyzer's (analyzer.h): every stage runs its list in order, an action starts
// when the stage is free and its inputs have arrived (a transfer between stages lands p2p after it
// was sent), and a step ends when the last stage ends. Memory is counted as the analyzer's peak
// stash: chunk activations held (F done, W not yet), at most `memory_cap` at any time on a stage.
//
// How (Qi et al. 2024, "Zero Bubble Pipeline Parallelism", §3, is the starting point):
//  1. A list-scheduling heuristic runs every stage forward in time. A stage that is free runs a
//     ready I first (it is on the critical path), else a ready F the memory cap allows, else it
//     fills the wait with a W: only if the W ends before the next input arrives, or always
//     (a variant); a stage at its cap runs W's to free memory. Variants also differ in the
//     in-flight limit (the cap, or the cap tapered to (pp−r)/pp of it, 1F1B's shape), in I-before-F
//     and in which chunk's F goes first; each variant is timed by its own clock, which is the
//     analyzer's, and the shortest wins. This is the paper's heuristic family; its ILP
//     refinement is replaced by (2).
//  2. On small instances an exact branch-and-bound search over the same space (each chunk runs its
//     F's, I's and W's in micro-batch order, as every published schedule does) starts from the
//     heuristic's makespan and either proves it optimal or finds the optimum (`optimal` = true), or
//     stops at `search_nodes` and keeps the best schedule found.
#pragma once

#include <cstdint>
#include <string>

#include "schedules/analyzer.h"
#include "schedules/schedule.h"

namespace trident {

struct AutoScheduleOptions {
  std::string name = "auto";  // the schedule's name in its text form
  int pp = 1;
  int v = 1;                                // chunks per stage (2 with the V placement)
  Placement placement = Placement::kLoop;
  int micro_batches = 1;
  // Per-chunk f, i, w (costs.per_chunk, or the uniform costs.f/i/w) and the p2p latency. costs.b is
  // not used: the scheduler always splits the backward (I then W is never slower than B).
  ActionCosts costs;
  // Most chunk activations a stage may hold at once (the analyzer's peak stash); 0: no cap. It
  // must be at least v (one micro-batch through all of a stage's chunks).
  int memory_cap = 0;
  // Exact search: run it when the step has at most this many compute actions (3·m·pp·v), with at
  // most `search_nodes` nodes. 0 disables it.
  int exact_max_actions = 48;
  std::int64_t search_nodes = 2'000'000;
};

struct AutoScheduleResult {
  Schedule schedule;              // compute-only, valid
  double makespan = 0.0;          // the analyzer's, for `schedule`
  double heuristic_makespan = 0.0;  // the best heuristic variant's
  double lower_bound = 0.0;       // no schedule in the searched space is shorter (= makespan when optimal)
  bool optimal = false;           // the exact search finished
  std::int64_t nodes = 0;         // exact-search nodes visited
  int variants = 0;               // heuristic variants tried
};

// Throws trident::Error (naming the option and the fix) for impossible inputs: a cap below v,
// non-finite or negative costs, a V placement without v = 2.
AutoScheduleResult auto_schedule(const AutoScheduleOptions& options);

// The zero-bubble paper's automatic schedules for one chunk per stage: ZB-1p under 1F1B's peak
// memory (pp chunk activations per stage), ZB-2p under twice that.
Schedule zb_1p(int pp, int micro_batches, const ActionCosts& costs = {});
Schedule zb_2p(int pp, int micro_batches, const ActionCosts& costs = {});

}  // namespace trident
