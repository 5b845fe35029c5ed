// The analyzer's timeline of a measured run: the run's schedule (from the config.json beside its
// trace.json) analysed with the action costs measured in that trace — per chunk, the mean time of
// its F, B, I and W actions (the costs the trainer's predicted_bubble_frac uses; p2p = 0). A
// timeline plot draws it under the measured one, so what the schedule should do and what it did
// sit on the same time axis.
#pragma once

#include <string>

#include "experiments/plan/plan.h"
#include "schedules/analyzer.h"

namespace trident {

// Reads the run's trace and config, analyses its schedule with the measured costs and writes the
// analyzer's Chrome trace (pid = stage, times in microseconds) to `out_path`. Returns the analysis.
Analysis write_predicted_trace(const std::string& trace_path, const std::string& config_path,
                               const std::string& out_path);

}  // namespace trident
