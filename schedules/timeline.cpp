#include "schedules/timeline.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace trident {

namespace {

// Per stage, the distinct chunks its actions name, ascending: a chunk's position here is its
// letter ('a' for the stage's first chunk). Inferred from the timeline, which carries no schedule.
std::vector<std::set<int>> chunks_by_stage(const std::vector<TimedAction>& timeline, int pp) {
  std::vector<std::set<int>> out(static_cast<std::size_t>(pp));
  for (const TimedAction& t : timeline) {
    TRIDENT_CHECK(t.stage >= 0 && t.stage < pp, "render_ascii: the timeline has an action on stage ", t.stage,
                  " but pp=", pp);
    for (const Action& half : parts(t.action)) out[static_cast<std::size_t>(t.stage)].insert(half.chunk);
  }
  return out;
}

// The character cell a time falls on. Start and end go through the same rounding, so actions that
// touch in time never overlap on the row.
std::size_t cell(double time, double unit) { return static_cast<std::size_t>(std::max(0.0, std::round(time / unit))); }

}  // namespace

std::string render_ascii(const Analysis& a, int pp, double unit) {
  TRIDENT_CHECK(pp >= 1, "render_ascii: pp=", pp, " must be at least 1");
  TRIDENT_CHECK(std::isfinite(unit) && unit > 0.0, "render_ascii: unit=", unit,
                " must be positive (time per character)");
  const auto chunks = chunks_by_stage(a.timeline, pp);
  const bool multi_chunk = std::any_of(chunks.begin(), chunks.end(), [](const auto& c) { return c.size() > 1; });

  const std::size_t width = cell(a.makespan, unit);
  std::vector<std::string> rows(static_cast<std::size_t>(pp), std::string(width, '.'));
  for (const TimedAction& t : a.timeline) {
    // Communication takes no stage time; the wait before a receive shows as idle.
    if (!t.action.is_compute()) continue;
    const auto& own = chunks[static_cast<std::size_t>(t.stage)];
    // An overlapped FB shows both halves: "F3+B0" ("F3a+B0b" with chunk letters).
    std::string label;
    for (const Action& half : parts(t.action)) {
      if (!label.empty()) label += '+';
      label += std::string(action_type_name(half.type)) + std::to_string(half.mb);
      if (multi_chunk) label += static_cast<char>('a' + std::distance(own.begin(), own.find(half.chunk)));
    }
    std::string& row = rows[static_cast<std::size_t>(t.stage)];
    const std::size_t from = cell(t.start, unit), to = std::min(cell(t.end, unit), width);
    // The label as far as the action's width allows, then '-' to show the action goes on.
    for (std::size_t k = from; k < to; ++k) row[k] = k - from < label.size() ? label[k - from] : '-';
  }

  const std::size_t name_width = 5 + std::to_string(pp - 1).size();  // "stage" and the widest number
  std::string out;
  for (int r = 0; r < pp; ++r) {
    std::string name = "stage" + std::to_string(r);
    name.resize(name_width, ' ');
    out += name + " " + rows[static_cast<std::size_t>(r)] + "\n";
  }
  return out;
}

std::vector<TraceEvent> to_trace_events(const std::vector<TimedAction>& timeline, double time_unit_us) {
  TRIDENT_CHECK(std::isfinite(time_unit_us) && time_unit_us > 0.0, "to_trace_events: time_unit_us=", time_unit_us,
                " must be positive");
  std::vector<TraceEvent> out;
  out.reserve(timeline.size());
  for (const TimedAction& t : timeline) {
    const bool compute = t.action.is_compute();
    TraceEvent e;
    e.name = t.action.str();
    e.cat = compute ? "compute" : "comm";
    e.pid = t.stage;
    e.tid = compute ? 0 : 1;
    e.ts_us = t.start * time_unit_us;
    e.dur_us = (t.end - t.start) * time_unit_us;
    e.args = {{"mb", std::to_string(t.action.mb)}, {"chunk", std::to_string(t.action.chunk)}};
    if (t.action.type == ActionType::kFB) {
      e.args["b_mb"] = std::to_string(t.action.b_mb);
      e.args["b_chunk"] = std::to_string(t.action.b_chunk);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace trident
