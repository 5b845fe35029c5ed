// The automatic scheduler's instance, shared by its heuristic (auto_scheduler.cpp) and its exact
// search (exact_search.cpp): the shape of the step (stages, chunks, placement, micro-batches), the
// cost of each action of each chunk, the p2p latency and the memory cap, checked once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "schedules/generators/auto_scheduler.h"

namespace trident::detail {

struct ScheduleProblem {
  Schedule shape;  // pp, v, micro_batches, placement; empty stage lists
  int chunks = 0;  // pp · v
  int m = 0;
  std::vector<double> f, i, w;  // per chunk
  double p2p = 0.0;   // a transfer lands p2p after its send
  double recv = 0.0;  // a receive holds its stage this long once reached (ActionCosts::recv)
  int cap = 0;        // resolved: m · v when the options say 0
  std::vector<std::vector<int>> chunks_of;  // per stage, ascending
  std::vector<int> stage_of;                // per chunk

  explicit ScheduleProblem(const AutoScheduleOptions& o);

  // Latency from chunk `from` handing over to its neighbour `to`: 0 on the same stage.
  bool remote(int from, int to) const {
    return stage_of[static_cast<std::size_t>(from)] != stage_of[static_cast<std::size_t>(to)];
  }
  double link(int from, int to) const { return remote(from, to) ? p2p : 0.0; }
  // When an action on a stage free at `now` can start, if its input from chunk `from` (into chunk
  // `to`) was produced at `produced`: the analyzer's RECV then the action.
  double start(double now, double produced, int from, int to) const {
    return remote(from, to) ? std::max(now + recv, produced + p2p) : std::max(now, produced);
  }
  std::size_t at(int mb, int chunk) const { return static_cast<std::size_t>(mb * chunks + chunk); }
  int compute_actions() const { return 3 * m * chunks; }
};

// The heuristic (auto_scheduler.cpp): a list scheduler run in several variants.
struct Variant {
  bool input_grad_first;    // an I and an F both ready: the I (the zero-bubble papers' choice)
  bool deep_forward_first;  // F's of several chunks ready: the highest chunk (drains the pipe)
  bool tapered;             // new micro-batches only while stash < cap·(pp−r)/pp (1F1B's shape)
  int fill;                 // idle with W's pending: 0 W only if it ends before the next known
                            // input (wait for news when none is known), 1 same but fill when none
                            // is known, 2 always fill
};
std::vector<Variant> variants(const ScheduleProblem& problem);

// One variant's schedule with the makespan and peak stash of its own clock: the analyzer's for
// that schedule (the ranking of variants relies on it).
struct ListSchedule {
  std::vector<std::vector<Action>> stages;  // compute-only, per stage
  double makespan = 0.0;
  int peak_stash = 0;                        // most chunk activations any stage holds
};
// nullopt if the memory cap leaves every stage stuck.
std::optional<ListSchedule> list_schedule(const ScheduleProblem& problem, const Variant& variant);

// The exact search (exact_search.cpp): schedules in which every chunk runs its F's, I's and W's in
// micro-batch order. Looks for one shorter than `upper_bound` within `max_nodes` nodes.
struct ExactResult {
  bool found = false;     // a schedule shorter than the upper bound; in `stages`
  bool complete = false;  // the whole space was searched: nothing shorter than the result exists
  double makespan = 0.0;  // of `stages` when found
  std::vector<std::vector<Action>> stages;
  std::int64_t nodes = 0;
  double root_lower_bound = 0.0;
};
ExactResult exact_search(const ScheduleProblem& problem, double upper_bound, std::int64_t max_nodes);

}  // namespace trident::detail
