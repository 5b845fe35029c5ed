// Action costs measured by a run, for the analyzer and the automatic scheduler: the mean duration
// of the F, B, I and W actions of each chunk, from an executor's timeline (the trainer's predicted
// bubble, bench_pipeline) or from a Chrome trace (trident's trace.json, which the trainer writes
// for its last step: complete events named like "F3.1", dur in microseconds, pid = rank; a
// simulated step's trace reads the same). Every rank's actions count, so with tp or dp > 1 a
// chunk's cost is the mean over the ranks that ran it. Overlapped FB actions (two actions in one
// duration) are not used.
#pragma once

#include <string>
#include <vector>

#include "schedules/analyzer.h"

namespace trident {

// Per-chunk sums of action durations, flat so that ranks can add theirs in one reduction: for chunk
// c and type t in {F, B, I, W} (ActionType's order), the summed durations at [8c + t] and the
// counts at [8c + 4 + t]. A vector of 8·chunks zeros to start from.
std::vector<double> action_time_sums(int chunks);
// Adds a timeline's compute actions (in its time unit), FB's excepted, to `sums`.
void add_action_times(const std::vector<TimedAction>& timeline, std::vector<double>& sums);
// The means as per-chunk costs (uniform f, b, i, w: the means over chunks). A chunk that ran only
// full backwards gets I = W = B/2, one that ran only split ones B = I + W: the analyzer needs both
// only where a schedule uses both. A type that never ran costs 0. Appends to `notes` (if given) a
// line per chunk whose I and W were estimated.
ActionCosts mean_action_costs(const std::vector<double>& sums, std::vector<std::string>* notes = nullptr);

struct MeasuredCosts {
  ActionCosts costs;               // per_chunk filled (one entry per chunk), in `unit_us` units
  int chunks = 0;                  // pp · v of the run that wrote the trace
  std::vector<std::string> notes;  // what was estimated rather than measured, one line each
};

// Reads `path`; `unit_us` microseconds become one cost unit (1000: costs in milliseconds). A chunk
// with B but no I/W events (a run of a schedule without the split) gets I = W = B/2, and a note
// says so. Throws trident::Error naming the file when it cannot be read, is not a trace, or has no
// forward events for some chunk.
MeasuredCosts costs_from_trace(const std::string& path, double unit_us = 1000.0);

}  // namespace trident
