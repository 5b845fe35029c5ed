#include "experiments/plots/predicted_timeline.h"

#include "core/error.h"
#include "core/trace.h"
#include "schedules/timeline.h"
#include "schedules/trace_costs.h"

namespace trident {

Analysis write_predicted_trace(const std::string& trace_path, const std::string& config_path,
                               const std::string& out_path) {
  TrainPlan plan;
  try {
    plan = resolve_plan(read_train_config_file(config_path));
  } catch (const Error& e) {
    TRIDENT_FAIL("the run's config '", config_path, "': ", message_of(e));
  }
  // Per-chunk mean action times in microseconds, every rank's events counted.
  const MeasuredCosts measured = costs_from_trace(trace_path, /*unit_us=*/1.0);
  TRIDENT_CHECK(measured.chunks == plan.schedule.num_chunks(), "trace '", trace_path, "' holds actions of ",
                measured.chunks, " chunks but the schedule ", plan.schedule.name, " of '", config_path, "' has ",
                plan.schedule.num_chunks(), ": give the trace and the config.json of the same run");
  const Analysis a = analyze(plan.schedule, measured.costs);
  TraceNames names;
  for (int s = 0; s < plan.schedule.pp; ++s) {
    names.processes[s] = "stage " + std::to_string(s);
    names.threads[{s, 0}] = "compute";
    names.threads[{s, 1}] = "pp comm";
  }
  write_chrome_trace(out_path, to_trace_events(a.timeline, 1.0), names);
  return a;
}

}  // namespace trident
