#include "schedules/trace_costs.h"

#include <array>
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace trident {

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

  // Per chunk and type (F, B, I, W): sum of durations and count.
  std::map<int, std::array<std::pair<double, int>, 4>> sums;
  for (const auto& e : doc["traceEvents"]) {
    if (!e.is_object() || e.value("ph", "") != "X" || e.value("cat", "") != "compute") continue;
    const std::string name = e.value("name", "");
    Action a;
    try {
      a = parse_action(name);
    } catch (const Error&) {
      continue;  // not an action (or a name this reader does not know)
    }
    if (a.type == ActionType::kFB || !a.is_compute()) continue;
    const double dur = e.value("dur", -1.0);
    TRIDENT_CHECK(std::isfinite(dur) && dur >= 0.0, "trace '", path, "': event ", name, " has duration ", dur);
    auto& slot = sums[a.chunk][static_cast<std::size_t>(a.type)];
    slot.first += dur / unit_us;
    ++slot.second;
  }
  TRIDENT_CHECK(!sums.empty(), "trace '", path, "' has no compute events named like F3.1: give the trace.json a ",
                "training run wrote");

  MeasuredCosts out;
  out.chunks = sums.rbegin()->first + 1;
  for (int c = 0; c < out.chunks; ++c) {
    auto it = sums.find(c);
    auto mean = [&](ActionType t) {
      if (it == sums.end()) return -1.0;
      const auto& [total, count] = it->second[static_cast<std::size_t>(t)];
      return count > 0 ? total / count : -1.0;
    };
    double f = mean(ActionType::kF), b = mean(ActionType::kB), i = mean(ActionType::kI), w = mean(ActionType::kW);
    TRIDENT_CHECK(f >= 0.0, "trace '", path, "' has no forward (F) events of chunk ", c, " of ", out.chunks,
                  ": give the trace of a run whose schedule covers every chunk");
    if (i < 0.0 || w < 0.0) {
      TRIDENT_CHECK(b >= 0.0, "trace '", path, "' has no backward (B, or I and W) events of chunk ", c);
      i = w = b / 2;
      out.notes.push_back("chunk " + std::to_string(c) + ": no I/W events (the run did not split the backward); "
                          "using I = W = B/2 — trace a zb-h1 step for measured halves");
    }
    if (b < 0.0) b = i + w;
    out.costs.per_chunk.push_back({f, b, i, w});
  }
  // The uniform costs, for displays: the means over chunks.
  double sf = 0, sb = 0, si = 0, sw = 0;
  for (const auto& c : out.costs.per_chunk) {
    sf += c[0];
    sb += c[1];
    si += c[2];
    sw += c[3];
  }
  const double n = out.chunks;
  out.costs.f = sf / n;
  out.costs.b = sb / n;
  out.costs.i = si / n;
  out.costs.w = sw / n;
  return out;
}

}  // namespace trident
