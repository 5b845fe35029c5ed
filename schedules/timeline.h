// Rendering timelines — the analyzer's modelled ones and the executor's measured ones — as ASCII
// (one row per stage, for terminals and test logs) and as Chrome-trace events (pid = stage) that
// open in Perfetto / chrome://tracing.
#pragma once

#include <string>
#include <vector>

#include "core/trace.h"
#include "schedules/analyzer.h"

namespace trident {

// One row per stage, `unit` time per character: each action shows its type letter and micro-batch
// ("F0", "I3", "W3"; chunks as a suffix when v > 1: "F0a"/"F0b"), '.' for idle time.
std::string render_ascii(const Analysis& a, int pp, double unit = 1.0);

// Trace events for the compute and communication actions of a timeline (times in `time_unit_us`
// microseconds per unit): pid = stage, tid 0 = compute, tid 1 = pp communication.
std::vector<TraceEvent> to_trace_events(const std::vector<TimedAction>& timeline, double time_unit_us);

}  // namespace trident
