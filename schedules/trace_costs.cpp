#include "schedules/trace_costs.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace trident {

namespace {

constexpr std::size_t kSlots = 8;  // per chunk: 4 sums (F, B, I, W), then 4 counts

// Adds one action of `duration` to `sums`, growing it to cover the action's chunk.
void add_one(const Action& a, double duration, std::vector<double>& sums) {
  const std::size_t first = static_cast<std::size_t>(a.chunk) * kSlots;
  if (sums.size() < first + kSlots) sums.resize(first + kSlots, 0.0);
  const std::size_t at = first + static_cast<std::size_t>(a.type);
  sums[at] += duration;
  sums[at + 4] += 1.0;
}

// A single compute action (F, B, I or W): an FB is two actions' time in one, a send or receive none.
bool costed(const Action& a) { return a.is_compute() && a.type != ActionType::kFB; }

}  // namespace

std::vector<double> action_time_sums(int chunks) {
  return std::vector<double>(static_cast<std::size_t>(chunks) * kSlots, 0.0);
}

void add_action_times(const std::vector<TimedAction>& timeline, std::vector<double>& sums) {
  for (const TimedAction& t : timeline)
    if (costed(t.action)) add_one(t.action, t.end - t.start, sums);
}

ActionCosts mean_action_costs(const std::vector<double>& sums, std::vector<std::string>* notes) {
  ActionCosts out;
  const std::size_t chunks = sums.size() / kSlots;
  double total[4] = {0, 0, 0, 0};
  for (std::size_t c = 0; c < chunks; ++c) {
    auto mean = [&](ActionType t) {
      const std::size_t at = c * kSlots + static_cast<std::size_t>(t);
      return sums[at + 4] > 0 ? sums[at] / sums[at + 4] : -1.0;
    };
    double f = mean(ActionType::kF), b = mean(ActionType::kB), i = mean(ActionType::kI), w = mean(ActionType::kW);
    if ((i < 0.0 || w < 0.0) && b >= 0.0) {
      i = w = b / 2;
      if (notes != nullptr)
        notes->push_back("chunk " + std::to_string(c) + ": no I/W actions (the run did not split the backward); "
                         "using I = W = B/2 — measure a zb-h1 step for measured halves");
    }
    if (b < 0.0 && i >= 0.0 && w >= 0.0) b = i + w;
    const std::array<double, 4> costs = {std::max(f, 0.0), std::max(b, 0.0), std::max(i, 0.0), std::max(w, 0.0)};
    for (std::size_t t = 0; t < 4; ++t) total[t] += costs[t];
    out.per_chunk.push_back(costs);
  }
  // The uniform costs, for displays: the means over chunks.
  const double n = chunks > 0 ? static_cast<double>(chunks) : 1.0;
  out.f = total[0] / n;
  out.b = total[1] / n;
  out.i = total[2] / n;
  out.w = total[3] / n;
  return out;
}

MeasuredCosts costs_from_trace(const std::string& path, double unit_us) {
  TRIDENT_CHECK(std::isfinite(unit_us) && unit_us > 0.0, "costs_from_trace: unit_us=", unit_us, " must be positive");
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot open trace '", path, "': give the trace.json a training run wrote");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TRIDENT_FAIL("trace '", path, "' is not JSON (", e.what(), "): give the trace.json a training run wrote");
  }
  TRIDENT_CHECK(doc.is_object() && doc.contains("traceEvents") && doc["traceEvents"].is_array(), "trace '", path,
                "' has no traceEvents array: give the trace.json a training run wrote");

  std::vector<double> sums;
  for (const auto& e : doc["traceEvents"]) {
    if (!e.is_object() || e.value("ph", "") != "X" || e.value("cat", "") != "compute") continue;
    const std::string name = e.value("name", "");
    Action a;
    try {
      a = parse_action(name);
    } catch (const Error&) {
      continue;  // not an action (or a name this reader does not know)
    }
    if (!costed(a)) continue;
    const double dur = e.value("dur", -1.0);
    TRIDENT_CHECK(std::isfinite(dur) && dur >= 0.0, "trace '", path, "': event ", name, " has duration ", dur);
    add_one(a, dur / unit_us, sums);
  }
  TRIDENT_CHECK(!sums.empty(), "trace '", path, "' has no compute events named like F3.1: give the trace.json a ",
                "training run wrote");

  MeasuredCosts out;
  out.chunks = static_cast<int>(sums.size() / kSlots);
  for (int c = 0; c < out.chunks; ++c) {
    const std::size_t counts = static_cast<std::size_t>(c) * kSlots + 4;
    auto ran = [&](ActionType t) { return sums[counts + static_cast<std::size_t>(t)] > 0; };
    TRIDENT_CHECK(ran(ActionType::kF), "trace '", path, "' has no forward (F) events of chunk ", c, " of ", out.chunks,
                  ": give the trace of a run whose schedule covers every chunk");
    const bool full = ran(ActionType::kB), split = ran(ActionType::kI) && ran(ActionType::kW);
    TRIDENT_CHECK(full || split, "trace '", path, "' has no backward (B, or I and W) events of chunk ", c);
  }
  out.costs = mean_action_costs(sums, &out.notes);
  return out;
}

}  // namespace trident
