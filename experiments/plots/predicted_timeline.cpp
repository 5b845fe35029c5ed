#include "experiments/plots/predicted_timeline.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/trace.h"
#include "schedules/timeline.h"

namespace trident {

namespace {

nlohmann::json read_json(const std::string& path, const char* what) {
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot read ", what, " '", path, "': ", errno_text(errno));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  TRIDENT_CHECK(!doc.is_discarded(), what, " '", path, "' is not valid JSON");
  return doc;
}

}  // namespace

ActionCosts costs_from_trace(const nlohmann::json& trace, const Schedule& schedule) {
  TRIDENT_CHECK(trace.is_object() && trace.contains("traceEvents") && trace.at("traceEvents").is_array(),
                "the trace has no traceEvents list (is it a Chrome trace from trident train?)");
  const auto chunks = static_cast<std::size_t>(schedule.num_chunks());
  std::vector<std::array<double, 4>> sum(chunks, {0, 0, 0, 0}), count(chunks, {0, 0, 0, 0});
  for (const auto& e : trace.at("traceEvents")) {
    if (e.value("ph", "") != "X" || e.value("cat", "") != "compute") continue;
    Action a;
    try {
      a = parse_action(e.value("name", ""));
    } catch (const Error&) {
      continue;  // not a schedule action (optimizer, reductions)
    }
    const int type = static_cast<int>(a.type);
    if (type > static_cast<int>(ActionType::kW) || a.chunk < 0 || static_cast<std::size_t>(a.chunk) >= chunks) continue;
    sum[static_cast<std::size_t>(a.chunk)][static_cast<std::size_t>(type)] += e.value("dur", 0.0);
    count[static_cast<std::size_t>(a.chunk)][static_cast<std::size_t>(type)] += 1;
  }
  ActionCosts costs;
  costs.per_chunk.resize(chunks);
  double seen = 0;
  for (std::size_t c = 0; c < chunks; ++c)
    for (std::size_t t = 0; t < 4; ++t) {
      costs.per_chunk[c][t] = count[c][t] > 0 ? sum[c][t] / count[c][t] : 0.0;
      seen += count[c][t];
    }
  TRIDENT_CHECK(seen > 0, "the trace holds no compute action of the schedule ", schedule.name, " (pp=", schedule.pp,
                ", ", chunks, " chunks): is it the trace of this run?");
  return costs;
}

Analysis write_predicted_trace(const std::string& trace_path, const std::string& config_path,
                               const std::string& out_path) {
  TrainPlan plan;
  try {
    plan = resolve_plan(read_train_config_file(config_path));
  } catch (const Error& e) {
    TRIDENT_FAIL("the run's config '", config_path, "': ", message_of(e));
  }
  const ActionCosts costs = costs_from_trace(read_json(trace_path, "trace"), plan.schedule);
  const Analysis a = analyze(plan.schedule, costs);
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
