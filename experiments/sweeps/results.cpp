// Rows and the two results files. The aggregates come from the run's summary.json (written by
// `trident train`, experiments/train/metrics.h); this file only maps its fields onto columns.
#include "experiments/sweeps/results.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/train/metrics.h"

namespace trident {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

// Column <- path in summary.json.
struct SummaryColumn {
  const char* column;
  std::vector<const char*> path;
};

const std::vector<SummaryColumn>& summary_columns() {
  static const std::vector<SummaryColumn> columns = {
      {"steps_run", {"steps"}},
      {"warmup_steps", {"warmup_steps"}},
      {"step_time_median_s", {"step_time_s", "median"}},
      {"step_time_p10_s", {"step_time_s", "p10"}},
      {"step_time_p90_s", {"step_time_s", "p90"}},
      {"step_time_mean_s", {"step_time_s", "mean"}},
      {"tokens_per_s", {"tokens_per_s"}},
      {"tflops_per_rank", {"tflops_per_rank"}},
      {"mfu", {"mfu"}},
      {"bubble_frac", {"bubble_frac"}},
      {"analyzer_bubble_frac", {"predicted_bubble_frac"}},
      {"comm_tp_s", {"comm_s", "tp"}},
      {"comm_pp_s", {"comm_s", "pp"}},
      {"comm_dp_s", {"comm_s", "dp"}},
      {"comm_embedding_s", {"comm_s", "embedding"}},
      {"peak_mem_min_bytes", {"peak_mem_bytes", "min"}},
      {"peak_mem_max_bytes", {"peak_mem_bytes", "max"}},
      {"peak_mem_per_stage_bytes", {"peak_mem_bytes", "per_stage"}},
      {"final_loss", {"final_loss"}},
      {"final_val_loss", {"final_val_loss"}},
  };
  return columns;
}

// Column <- path in sim.json (`trident simulate --json` of the point's config).
const std::vector<SummaryColumn>& sim_columns() {
  static const std::vector<SummaryColumn> columns = {
      {"sim_cluster", {"cluster"}},
      {"sim_step_time_s", {"step_time_s"}},
      {"sim_tokens_per_s", {"tokens_per_s"}},
      {"sim_mfu", {"mfu"}},
      {"sim_bubble_frac", {"bubble_frac"}},
      {"sim_peak_mem_max_bytes", {"peak_memory_bytes"}},
  };
  return columns;
}

// The simulator's peak memory per pipeline stage (the largest over a stage's ranks), beside the
// measured peak_mem_per_stage_bytes; null when there is no simulation.
json sim_peak_per_stage(const json& sim) {
  if (!sim.is_object() || !sim.contains("stages") || !sim.at("stages").is_array()) return nullptr;
  std::vector<std::int64_t> peaks;
  for (const json& s : sim.at("stages")) {
    if (!s.is_object() || !s.value("stage", json()).is_number_unsigned() ||
        !s.value("peak_memory_bytes", json()).is_number())
      return nullptr;
    const std::size_t stage = s.at("stage").get<std::size_t>();
    if (peaks.size() <= stage) peaks.resize(stage + 1, 0);
    peaks[stage] = std::max(peaks[stage], s.at("peak_memory_bytes").get<std::int64_t>());
  }
  return peaks.empty() ? json(nullptr) : json(peaks);
}

json at_path(const json& doc, const std::vector<const char*>& path) {
  const json* node = &doc;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &node->at(key);
  }
  return *node;
}

// <dir>/<name> as JSON, or null when it is missing or unreadable (a failed run, no simulation).
json read_json(const std::string& dir, const char* name) {
  std::ifstream in(fs::path(dir) / name);
  if (!in.good()) return nullptr;
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  return doc.is_discarded() ? json() : doc;
}

void flatten(ojson& row, const std::string& prefix, const json& object) {
  for (const auto& [k, v] : object.items()) {
    if (v.is_object()) continue;  // sections are written in flatten_config's order
    row[prefix.empty() ? k : prefix + "." + k] = v;
  }
}

// The config's values as dotted columns: model, layout, optimizer, data, other sections, top level.
void flatten_config(ojson& row, const json& config) {
  static const char* kSections[] = {"model", "layout", "optimizer", "data"};
  for (const char* s : kSections)
    if (config.contains(s) && config.at(s).is_object()) flatten(row, s, config.at(s));
  for (const auto& [k, v] : config.items()) {
    bool known = false;
    for (const char* s : kSections) known = known || k == s;
    if (v.is_object() && !known) flatten(row, k, v);
  }
  flatten(row, "", config);
}

std::string csv_cell(const ojson& v) {
  if (v.is_null()) return "";
  if (v.is_array()) {
    std::string joined;
    for (std::size_t i = 0; i < v.size(); ++i) joined += (i ? ";" : "") + csv_cell(v[i]);
    return joined;
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", d);
    return buf;
  }
  if (!v.is_string()) return v.dump();
  const std::string s = v.get<std::string>();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (const char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Every column of a point's row, in order, with the point's own values filled in.
ojson row_skeleton(const SweepPoint& point) {
  ojson row;
  row["point"] = point.index;
  row["label"] = point.label;
  row["hash"] = point.hash;
  flatten_config(row, point.config_json);
  for (const auto& [k, v] : point.tags.items()) row[k] = v;
  row["world_size"] = point.world_size;
  for (const SummaryColumn& c : summary_columns()) row[c.column] = nullptr;
  for (const SummaryColumn& c : sim_columns()) row[c.column] = nullptr;
  row["sim_peak_mem_per_stage_bytes"] = nullptr;
  for (const char* k : {"status", "error", "exit_code", "wall_s"}) row[k] = nullptr;
  row["dir"] = point.dir;
  return row;
}

}  // namespace

ojson result_row(const SweepPoint& point, const PointOutcome& outcome) {
  ojson row = row_skeleton(point);
  const json summary = outcome.status == "ok" ? read_json(point.dir, "summary.json") : json();
  for (const SummaryColumn& c : summary_columns()) row[c.column] = at_path(summary, c.path);
  const json sim = read_json(point.dir, "sim.json");
  for (const SummaryColumn& c : sim_columns()) row[c.column] = at_path(sim, c.path);
  row["sim_peak_mem_per_stage_bytes"] = sim_peak_per_stage(sim);
  row["status"] = outcome.status;
  row["error"] = outcome.error;
  row["exit_code"] = outcome.exit_code;
  row["wall_s"] = std::round(outcome.wall_s * 1000.0) / 1000.0;
  return row;
}

std::string to_csv(const std::vector<ojson>& rows) {
  std::vector<std::string> header;
  for (const ojson& r : rows)
    for (const auto& [k, v] : r.items())
      if (std::find(header.begin(), header.end(), k) == header.end()) header.push_back(k);
  std::string out;
  for (std::size_t i = 0; i < header.size(); ++i) out += (i ? "," : "") + csv_cell(ojson(header[i]));
  out += "\n";
  for (const ojson& r : rows) {
    for (std::size_t i = 0; i < header.size(); ++i) out += (i ? "," : "") + csv_cell(r.contains(header[i]) ? r.at(header[i]) : ojson());
    out += "\n";
  }
  return out;
}

SweepResults::SweepResults(const std::string& dir) : dir_(dir) {
  if (!fs::exists(jsonl_path())) return;
  for (const json& record : read_metrics(jsonl_path())) {
    if (!record.is_object() || !record.contains("hash") || !record.at("hash").is_string()) continue;
    latest_[record.at("hash").get<std::string>()] = ojson::parse(record.dump());
  }
}

std::string SweepResults::csv_path() const { return (fs::path(dir_) / "results.csv").string(); }
std::string SweepResults::jsonl_path() const { return (fs::path(dir_) / "results.jsonl").string(); }

const ojson* SweepResults::latest(const std::string& hash) const {
  const auto it = latest_.find(hash);
  return it == latest_.end() ? nullptr : &it->second;
}

bool SweepResults::complete(const std::string& hash) const {
  const ojson* r = latest(hash);
  return r != nullptr && r->value("status", "") == "ok";
}

void SweepResults::add(const ojson& row, const std::vector<SweepPoint>& points) {
  {
    MetricsWriter jsonl(jsonl_path(), /*append=*/true);
    jsonl.write(json::parse(row.dump()));
  }
  latest_[row.at("hash").get<std::string>()] = row;
  rewrite_csv(points);
}

void SweepResults::rewrite_csv(const std::vector<SweepPoint>& points) const {
  std::vector<ojson> rows;
  for (const SweepPoint& p : points) {
    const ojson* r = latest(p.hash);
    if (r == nullptr) continue;
    // The record's values in the canonical column order (records read back have sorted keys); the
    // point's position and label are those of the current spec.
    ojson row = row_skeleton(p);
    for (const auto& [k, v] : r->items())
      if (k != "point" && k != "label") row[k] = v;
    rows.push_back(std::move(row));
  }
  // No point finished yet: the header alone (every point has the same columns).
  std::string text = to_csv(rows.empty() && !points.empty() ? std::vector<ojson>{row_skeleton(points.front())} : rows);
  if (rows.empty()) text = text.substr(0, text.find('\n') + 1);
  write_file_atomically(csv_path(), {{text.data(), text.size()}}, "results.csv");
}

}  // namespace trident
