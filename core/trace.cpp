// Chrome trace output; the file is written with write_file_atomically (core/atomic_file.h).
#include "core/trace.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace trident {

namespace {

using json = nlohmann::json;

json metadata_event(const char* what, int pid, int tid, const std::string& name) {
  return {{"name", what}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}};
}

}  // namespace

std::string chrome_trace_json(const std::vector<TraceEvent>& events, const TraceNames& names) {
  json list = json::array();
  // Metadata first: viewers apply names whenever they come, but a reader of the file sees them up front.
  for (const auto& [pid, name] : names.processes) list.push_back(metadata_event("process_name", pid, 0, name));
  for (const auto& [ids, name] : names.threads)
    list.push_back(metadata_event("thread_name", ids.first, ids.second, name));
  for (const TraceEvent& e : events) {
    // json would write NaN as null, which viewers reject with no hint of which event was at fault.
    TRIDENT_CHECK(std::isfinite(e.ts_us) && std::isfinite(e.dur_us) && e.dur_us >= 0.0, "trace event '", e.name,
                  "' (pid ", e.pid, ", tid ", e.tid, ") has ts ", e.ts_us, " us and duration ", e.dur_us,
                  " us; both must be finite and the duration non-negative");
    json ev = {{"name", e.name}, {"cat", e.cat}, {"ph", "X"},        {"pid", e.pid},
               {"tid", e.tid},   {"ts", e.ts_us}, {"dur", e.dur_us}};
    if (!e.args.empty()) ev["args"] = e.args;
    list.push_back(std::move(ev));
  }
  const json doc = {{"traceEvents", std::move(list)}, {"displayTimeUnit", "ms"}};
  try {
    return doc.dump();
  } catch (const json::exception& e) {  // a name or argument that is not valid UTF-8
    TRIDENT_FAIL("chrome trace: cannot encode the events: ", e.what());
  }
}

void write_chrome_trace(const std::string& path, const std::vector<TraceEvent>& events, const TraceNames& names) {
  const char* op = "write_chrome_trace";
  std::string text;
  try {
    text = chrome_trace_json(events, names);
  } catch (const Error& e) {
    TRIDENT_FAIL(op, ": ", path, ": ", e.what());
  }
  write_file_atomically(path, {{text.data(), text.size()}}, op);
}

}  // namespace trident
