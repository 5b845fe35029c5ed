// Action costs measured by a run, for the analyzer and the automatic scheduler: the mean duration
// of the F, B, I and W events of each chunk in a Chrome trace (trident's trace.json, which the
// trainer writes for its last step: complete events named like "F3.1", dur in microseconds,
// pid = rank). Every rank's events count, so with tp or dp > 1 a chunk's cost is the mean over
// the ranks that ran it. Overlapped FB events (two actions in one duration) are not used.
#pragma once

#include <string>
#include <vector>

#include "schedules/analyzer.h"

namespace trident {

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
