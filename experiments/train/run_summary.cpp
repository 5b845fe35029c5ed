#include "experiments/train/run_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace trident {

namespace {

using json = nlohmann::json;

json finite_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

// Linear interpolation between order statistics (numpy's default), q in [0, 1].
double quantile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  std::sort(sorted.begin(), sorted.end());
  const double at = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (at - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::string format(const char* spec, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, value);
  return buf;
}

}  // namespace

RunSummary summarize(const std::vector<StepRecord>& records) {
  RunSummary s;
  if (records.empty()) return s;
  s.steps = records.back().step > 0 ? records.back().step : static_cast<std::int64_t>(records.size());
  for (const StepRecord& r : records) {
    s.skipped += r.skipped ? 1 : 0;
    if (r.val_loss) {
      s.final_val_loss = r.val_loss;
      s.final_val_step = r.step;
    }
    s.peak_mem_min = std::max(s.peak_mem_min, r.peak_mem_min);
    if (r.peak_mem_max >= s.peak_mem_max) s.peak_mem_breakdown = r.peak_mem_breakdown;
    s.peak_mem_max = std::max(s.peak_mem_max, r.peak_mem_max);
    if (s.peak_mem_per_stage.size() < r.peak_mem_per_stage.size()) s.peak_mem_per_stage.resize(r.peak_mem_per_stage.size());
    for (std::size_t i = 0; i < r.peak_mem_per_stage.size(); ++i)
      s.peak_mem_per_stage[i] = std::max(s.peak_mem_per_stage[i], r.peak_mem_per_stage[i]);
  }
  s.final_loss = records.back().loss;

  // The first step pays for warm-up (allocation, thread start, page faults): leave it out when
  // there is anything else to aggregate.
  s.warmup_steps = records.size() > 1 ? 1 : 0;
  std::vector<double> times;
  double time = 0.0, tokens = 0.0, tflops = 0.0, mfu = 0.0, bubble = 0.0, bubble_frac = 0.0, predicted = 0.0;
  for (std::size_t i = static_cast<std::size_t>(s.warmup_steps); i < records.size(); ++i) {
    const StepRecord& r = records[i];
    const double t = r.step_time_s;
    times.push_back(t);
    time += t;
    tokens += r.tokens_per_s * t;
    tflops += r.tflops_per_rank * t;
    mfu += r.mfu * t;
    bubble += r.bubble_s;
    bubble_frac += r.bubble_frac * t;
    predicted += r.predicted_bubble_frac * t;
    s.comm_s.tp += r.comm_s.tp;
    s.comm_s.pp += r.comm_s.pp;
    s.comm_s.dp += r.comm_s.dp;
    s.comm_s.embedding += r.comm_s.embedding;
    s.dp_exposed_s += r.dp_exposed_s;
  }
  const double n = static_cast<double>(times.size());
  s.aggregated_steps = static_cast<std::int64_t>(times.size());
  s.step_time_s = {quantile(times, 0.5), quantile(times, 0.1), quantile(times, 0.9), time / n};
  if (time > 0) {
    s.tokens_per_s = tokens / time;
    s.tflops_per_rank = tflops / time;
    s.mfu = mfu / time;
    s.bubble_frac = bubble_frac / time;
    s.predicted_bubble_frac = predicted / time;
  }
  s.bubble_s = bubble / n;
  s.comm_s = {s.comm_s.tp / n, s.comm_s.pp / n, s.comm_s.dp / n, s.comm_s.embedding / n};
  s.dp_exposed_s /= n;
  return s;
}

json to_json(const RunSummary& s) {
  json j;
  j["steps"] = s.steps;
  j["skipped"] = s.skipped;
  j["warmup_steps"] = s.warmup_steps;
  j["aggregated_steps"] = s.aggregated_steps;
  j["final_loss"] = finite_or_null(s.final_loss);
  j["final_val_loss"] = s.final_val_loss ? finite_or_null(*s.final_val_loss) : json(nullptr);
  j["final_val_step"] = s.final_val_loss ? json(s.final_val_step) : json(nullptr);
  j["step_time_s"] = {{"median", s.step_time_s.median}, {"p10", s.step_time_s.p10}, {"p90", s.step_time_s.p90},
                      {"mean", s.step_time_s.mean}};
  j["tokens_per_s"] = s.tokens_per_s;
  j["tflops_per_rank"] = s.tflops_per_rank;
  j["mfu"] = s.mfu;
  j["bubble_s"] = s.bubble_s;
  j["bubble_frac"] = s.bubble_frac;
  j["predicted_bubble_frac"] = s.predicted_bubble_frac;
  j["comm_s"] = {{"tp", s.comm_s.tp}, {"pp", s.comm_s.pp}, {"dp", s.comm_s.dp}, {"embedding", s.comm_s.embedding}};
  j["dp_exposed_s"] = s.dp_exposed_s;
  j["peak_mem_bytes"] = {{"min", s.peak_mem_min}, {"max", s.peak_mem_max}, {"per_stage", s.peak_mem_per_stage},
                         {"breakdown", to_json(s.peak_mem_breakdown)}};
  return j;
}

std::string summary_table(const RunSummary& s) {
  if (s.steps == 0 && s.aggregated_steps == 0) return "no steps recorded\n";
  std::vector<std::pair<std::string, std::string>> rows;
  auto row = [&](std::string name, double v, const char* spec, double scale = 1.0) {
    rows.emplace_back(std::move(name), std::isfinite(v) ? format(spec, v * scale) : "-");
  };
  std::string steps = std::to_string(s.steps);
  if (s.skipped > 0) steps += " (" + std::to_string(s.skipped) + " skipped)";
  rows.emplace_back("steps", steps);
  row("final loss", s.final_loss, "%.4f");
  rows.emplace_back("final val loss", s.final_val_loss ? format("%.4f", *s.final_val_loss) +
                                                             format(" (step %.0f)", static_cast<double>(s.final_val_step))
                                                       : "-");
  const std::string over = s.warmup_steps > 0 ? " (excl. first)" : "";
  row("median step time" + over, s.step_time_s.median, "%.1f ms", 1e3);
  rows.emplace_back("step time p10 / p90", format("%.1f", s.step_time_s.p10 * 1e3) + " / " +
                                               format("%.1f ms", s.step_time_s.p90 * 1e3));
  row("tokens/s", s.tokens_per_s, "%.0f");
  row("TFLOP/s per rank", s.tflops_per_rank, "%.4f");
  row("MFU", s.mfu, "%.2f %%", 100.0);
  row("bubble", s.bubble_frac, "%.1f %%", 100.0);
  row("bubble the schedule predicts", s.predicted_bubble_frac, "%.1f %%", 100.0);
  row("comm tp per step", s.comm_s.tp, "%.2f ms", 1e3);
  row("comm pp per step", s.comm_s.pp, "%.2f ms", 1e3);
  row("comm dp per step", s.comm_s.dp, "%.2f ms", 1e3);
  row("  of which exposed (not hidden)", s.dp_exposed_s, "%.2f ms", 1e3);
  row("comm embedding per step", s.comm_s.embedding, "%.2f ms", 1e3);
  constexpr double kMiB = 1.0 / (1024.0 * 1024.0);
  row("peak memory, least-loaded rank", static_cast<double>(s.peak_mem_min), "%.1f MiB", kMiB);
  row("peak memory, most-loaded rank", static_cast<double>(s.peak_mem_max), "%.1f MiB", kMiB);
  const MemoryAtPeak& b = s.peak_mem_breakdown;
  const std::pair<const char*, std::int64_t> parts[] = {{"weights", b.weights},
                                                        {"gradients", b.gradients},
                                                        {"optimizer state", b.optimizer_state},
                                                        {"communication buffers", b.comm_buffers},
                                                        {"activations and the rest", b.activations}};
  for (const auto& [name, bytes] : parts) row(std::string("  of which ") + name, static_cast<double>(bytes), "%.1f MiB", kMiB);
  for (std::size_t i = 0; i < s.peak_mem_per_stage.size() && s.peak_mem_per_stage.size() > 1; ++i)
    row("peak memory, stage " + std::to_string(i), static_cast<double>(s.peak_mem_per_stage[i]), "%.1f MiB", kMiB);

  std::size_t width = 6;
  for (const auto& [name, value] : rows) width = std::max(width, name.size());
  std::string out = "metric" + std::string(width - 6 + 2, ' ') + "value\n" + std::string(width, '-') + "  " +
                    std::string(16, '-') + "\n";
  for (const auto& [name, value] : rows) out += name + std::string(width - name.size() + 2, ' ') + value + "\n";
  return out;
}

}  // namespace trident
