// Chrome trace events (the JSON "Trace Event Format" Perfetto and chrome://tracing read): complete
// events with a name, a category, a process id (trident: the rank), a thread id (compute or one
// communication axis), a start and a duration in microseconds.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace trident {

struct TraceEvent {
  std::string name;  // "F3.1", "all_reduce dp", …
  std::string cat;   // "compute", "comm", …
  int pid = 0;
  int tid = 0;
  double ts_us = 0.0;
  double dur_us = 0.0;
  std::map<std::string, std::string> args;
};

// Names shown for a pid / tid (metadata events), e.g. {0, "rank 0"}.
struct TraceNames {
  std::map<int, std::string> processes;
  std::map<std::pair<int, int>, std::string> threads;
};

// {"traceEvents": [...], "displayTimeUnit": "ms"}, written atomically (temporary file + rename).
void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events, const TraceNames& names = {});
std::string chrome_trace_json(const std::vector<TraceEvent>& events, const TraceNames& names = {});

}  // namespace trident
