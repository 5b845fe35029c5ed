// Cluster files: strict reading (unknown keys and wrong types are errors naming the field), range
// checks on every number, and the GEMM efficiency model.
#include "experiments/sim/cluster.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "experiments/plan/json_file.h"

#ifndef TRIDENT_CLUSTER_DIR
#error "TRIDENT_CLUSTER_DIR must name the source tree's experiments/sim/clusters (set by CMake)"
#endif

namespace trident {

namespace {

using json = nlohmann::json;

// JsonFields (experiments/plan/json_file.h) plus the keys read, so that a key the simulator does
// not know is an error: a misspelt efficiency would otherwise silently keep its default.
class Fields {
 public:
  explicit Fields(JsonFields f) : f_(std::move(f)) {}

  bool has(const char* key) const { return f_.contains(key); }
  double number(const char* key, double lo, double hi, std::optional<double> fallback = {}) {
    use(key);
    return !has(key) && fallback ? *fallback : f_.number(key, lo, hi);
  }
  std::string text(const char* key, std::optional<std::string> fallback = {}) {
    use(key);
    return !has(key) && fallback ? *fallback : f_.string(key);
  }
  bool flag(const char* key, bool fallback) {
    use(key);
    if (!has(key)) return fallback;
    if (!f_.at(key).is_boolean()) fail(key, "is " + json_shown(f_.at(key)) + ": it must be true or false");
    return f_.at(key).get<bool>();
  }
  Fields object(const char* key) {
    use(key);
    return Fields(f_.object(key));
  }
  const json& raw(const char* key) {
    use(key);
    return f_.at(key);
  }
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const { f_.fail(key, problem); }
  // Every key was read: anything else is a typo the user should hear about.
  void finish() const {
    for (const auto& [key, value] : f_.json().items())
      if (std::find(used_.begin(), used_.end(), key) == used_.end()) {
        std::string known;
        for (const std::string& u : used_) known += (known.empty() ? "" : ", ") + u;
        fail(key, "is not a field of a cluster file (known here: " + known + ")");
      }
  }

 private:
  void use(const char* key) {
    if (std::find(used_.begin(), used_.end(), key) == used_.end()) used_.emplace_back(key);
  }
  JsonFields f_;
  std::vector<std::string> used_;
};

constexpr double kBig = 1e30;

std::map<std::string, double> number_map(Fields& parent, const char* key, double lo, double hi) {
  std::map<std::string, double> out;
  if (!parent.has(key)) return out;
  Fields r = parent.object(key);
  for (const auto& [k, v] : parent.raw(key).items()) out[k] = r.number(k.c_str(), lo, hi);
  r.finish();
  return out;
}

// A bare efficiency, or [size, efficiency] pairs in ascending size.
SizeTable read_size_table(Fields& parent, const std::string& key) {
  const json& v = parent.raw(key.c_str());
  SizeTable t;
  auto bad = [&](const std::string& what) { parent.fail(key, "is " + json_shown(v) + ": " + what); };
  if (v.is_number()) {
    const double e = v.get<double>();
    if (!std::isfinite(e) || e <= 0 || e > 100) bad("use an efficiency in (0, 100]");
    t.points.emplace_back(1.0, e);
    return t;
  }
  if (!v.is_array() || v.empty()) bad("use an efficiency or an array of [size, efficiency] pairs");
  for (const json& row : v) {
    if (!row.is_array() || row.size() != 2 || !row[0].is_number() || !row[1].is_number())
      bad("every entry must be [size, efficiency]");
    const double size = row[0].get<double>(), e = row[1].get<double>();
    if (!(size >= 1 && std::isfinite(size) && e > 0 && e <= 100)) bad("sizes must be >= 1 and efficiencies in (0, 100]");
    if (!t.points.empty() && size <= t.points.back().first) bad("sizes must ascend");
    t.points.emplace_back(size, e);
  }
  return t;
}

GemmModel read_gemm(Fields r) {
  GemmModel g;
  g.max_efficiency = r.number("max_efficiency", 1e-4, 1.0);
  g.half_dim = r.number("half_dim", 0.0, 1e6);
  if (r.has("table")) {
    const json& t = r.raw("table");
    auto bad = [&](std::size_t i, const std::string& what) {
      r.fail("table", "[" + std::to_string(i) + "] is " + json_shown(t[i]) + ": " + what);
    };
    if (!t.is_array()) r.fail("table", "must be an array of [m, n, k, efficiency(, \"NT\")] rows");
    for (std::size_t i = 0; i < t.size(); ++i) {
      const json& row = t[i];
      if (!row.is_array() || (row.size() != 4 && row.size() != 5)) bad(i, "use [m, n, k, efficiency] or [m, n, k, efficiency, \"NT\"]");
      GemmModel::Point p;
      double* v[4] = {&p.m, &p.n, &p.k, &p.efficiency};
      for (std::size_t j = 0; j < 4; ++j) {
        if (!row[j].is_number()) bad(i, "m, n, k and efficiency are numbers");
        *v[j] = row[j].get<double>();
      }
      if (row.size() == 5) {
        p.trans = row[4].is_string() ? row[4].get<std::string>() : "";
        if (p.trans != "NN" && p.trans != "NT" && p.trans != "TN" && p.trans != "TT") bad(i, "the transposes are NN, NT, TN or TT");
      }
      if (!(p.m >= 1 && p.n >= 1 && p.k >= 1 && p.efficiency > 0 && p.efficiency <= 1.0))
        bad(i, "m, n, k must be >= 1 and the efficiency in (0, 1]");
      g.table.push_back(p);
    }
  }
  r.finish();
  return g;
}

LinkSpec read_link(Fields r) {
  LinkSpec l;
  l.bandwidth = r.number("bandwidth", 1.0, kBig);
  l.latency_s = r.number("latency_s", 0.0, 1.0, 0.0);
  l.efficiency = r.number("efficiency", 1e-3, 1.0, 1.0);
  if (r.has("collectives")) {
    Fields c = r.object("collectives");
    for (const auto& [key, value] : r.raw("collectives").items()) {
      std::optional<CommKind> kind;
      for (CommKind k : {CommKind::kAllReduce, CommKind::kAllGather, CommKind::kReduceScatter, CommKind::kBroadcast,
                         CommKind::kSend})
        if (key == comm_kind_name(k)) kind = k;
      if (!kind) c.fail(key, "is not a collective: use all_reduce, all_gather, reduce_scatter, broadcast or send");
      Fields m = c.object(key.c_str());
      LinkSpec::Measured meas;
      meas.bus_bandwidth = m.number("bus_bandwidth", 1.0, kBig);
      meas.latency_s = m.number("latency_s", 0.0, 1.0, 0.0);
      m.finish();
      l.collectives[*kind] = meas;
    }
    c.finish();
  }
  r.finish();
  return l;
}

DeviceSpec read_device(Fields r) {
  DeviceSpec d;
  const std::string kind = r.text("kind");
  if (kind != "gpu" && kind != "cpu") r.fail("kind", "is '" + kind + "': use gpu or cpu");
  d.kind = kind == "gpu" ? DeviceSpec::Kind::kGpu : DeviceSpec::Kind::kCpu;
  d.peak_flops = number_map(r, "peak_flops", 1.0, kBig);
  if (d.peak_flops.empty()) r.fail("peak_flops", "is missing or empty: give the dense peak per compute dtype, e.g. "
                                                 "{\"bf16\": 312e12, \"f32\": 19.5e12}");
  for (const auto& [name, v] : d.peak_flops)
    if (name != "bf16" && name != "f32") r.fail("peak_flops", "names '" + name + "', not a compute dtype: use bf16 or f32");
  d.memory_bytes = r.number("memory_bytes", 1.0, kBig);
  d.memory_bandwidth = r.number("memory_bandwidth", 1.0, kBig);
  d.gemm = read_gemm(r.object("gemm"));
  // Relative to FLOPs counted with causal attention in full: a kernel that skips the masked half
  // can exceed 1.
  d.attention_efficiency = r.number("attention_efficiency", 1e-4, 10.0);
  d.attention_score_bytes = r.number("attention_score_bytes", 0.0, 1e3, 0.0);
  d.attention_score_bytes_backward = r.has("attention_score_bytes_backward")
                                         ? r.number("attention_score_bytes_backward", 0.0, 1e3)
                                         : 2.0 * d.attention_score_bytes;
  d.memory_efficiency = r.number("memory_efficiency", 1e-4, 1.0);
  if (r.has("op_efficiency")) {
    Fields ops = r.object("op_efficiency");
    for (const auto& [name, v] : r.raw("op_efficiency").items()) {
      bool known = false;
      for (int k = 0; k < kNumOpKinds; ++k) known = known || op_kind_name(static_cast<OpKind>(k)) == name;
      if (!known) ops.fail(name, "is not an op of the op table (core/op_record.h's op_kind_name)");
      d.op_efficiency[name] = read_size_table(ops, name);
    }
  }
  d.op_overhead_s = r.number("op_overhead_s", 0.0, 1.0, 0.0);
  d.cores = static_cast<int>(r.number("cores", 0, 1 << 20, 0));
  d.thread_speedup = number_map(r, "thread_speedup", 0.1, 1024.0);
  if (d.kind == DeviceSpec::Kind::kCpu && d.cores < 1)
    r.fail("cores", "is missing: a cpu device needs the node's core count (its ranks share them)");
  r.finish();
  return d;
}

NetworkSpec read_network(Fields r) {
  NetworkSpec n;
  n.devices_per_node = static_cast<int>(r.number("devices_per_node", 1, 1 << 24));
  n.intra_node = read_link(r.object("intra_node"));
  n.inter_node = r.has("inter_node") ? read_link(r.object("inter_node")) : n.intra_node;
  const std::string alg = r.text("algorithm", std::string("ring"));
  if (alg != "ring" && alg != "tree") r.fail("algorithm", "is '" + alg + "': use ring or tree");
  n.algorithm = alg == "ring" ? NetworkSpec::Algorithm::kRing : NetworkSpec::Algorithm::kTree;
  n.receive_holds_stage = r.flag("receive_holds_stage", false);
  r.finish();
  return n;
}

json link_json(const LinkSpec& l) {
  json j = {{"bandwidth", l.bandwidth}, {"latency_s", l.latency_s}, {"efficiency", l.efficiency}};
  if (!l.collectives.empty()) {
    json c = json::object();
    for (const auto& [kind, m] : l.collectives)
      c[std::string(comm_kind_name(kind))] = {{"bus_bandwidth", m.bus_bandwidth}, {"latency_s", m.latency_s}};
    j["collectives"] = c;
  }
  return j;
}

}  // namespace

double GemmModel::curve(double m, double n, double k) const {
  auto g = [&](double d) { return d / (d + half_dim); };
  return max_efficiency * g(m) * g(n) * g(k);
}

double GemmModel::efficiency(double m, double n, double k, bool trans_a, bool trans_b) const {
  if (table.empty()) return curve(m, n, k);
  const std::string trans = std::string(trans_a ? "T" : "N") + (trans_b ? "T" : "N");
  const bool any_same = std::any_of(table.begin(), table.end(), [&](const Point& p) { return p.trans == trans; });
  // Inverse-distance weighting over the measured shapes in log2 space; each measured point is
  // carried to the asked shape by the curve, so far-away points still move in the right direction.
  double wsum = 0.0, esum = 0.0;
  const double lm = std::log2(m), ln = std::log2(n), lk = std::log2(k), c = curve(m, n, k);
  for (const Point& p : table) {
    if (any_same && p.trans != trans && !p.trans.empty()) continue;
    const double d2 = std::pow(lm - std::log2(p.m), 2) + std::pow(ln - std::log2(p.n), 2) +
                      std::pow(lk - std::log2(p.k), 2);
    const double carried = p.efficiency * c / curve(p.m, p.n, p.k);
    if (d2 < 1e-12) return std::min(1.0, carried);
    const double w = 1.0 / (d2 * d2);
    wsum += w;
    esum += w * carried;
  }
  return std::min(1.0, esum / wsum);
}

double SizeTable::at(double size) const {
  if (points.size() == 1 || size <= points.front().first) return points.front().second;
  if (size >= points.back().first) return points.back().second;
  const auto hi = std::upper_bound(points.begin(), points.end(), size,
                                   [](double s, const std::pair<double, double>& p) { return s < p.first; });
  const auto lo = hi - 1;
  const double t = (std::log2(size) - std::log2(lo->first)) / (std::log2(hi->first) - std::log2(lo->first));
  return lo->second + t * (hi->second - lo->second);
}

double DeviceSpec::peak(DType dtype) const {
  auto it = peak_flops.find(std::string(dtype_name(dtype)));
  TRIDENT_CHECK(it != peak_flops.end(), "the cluster's device.peak_flops has no entry for ", dtype_name(dtype),
                ": add one, or simulate another precision");
  return it->second;
}

const SizeTable* DeviceSpec::op_table(OpKind kind) const {
  auto it = op_efficiency.find(std::string(op_kind_name(kind)));
  return it == op_efficiency.end() ? nullptr : &it->second;
}

std::vector<std::string> shipped_cluster_names() { return {"a100", "h100", "h200", "cpu"}; }

std::string shipped_cluster_dir() { return TRIDENT_CLUSTER_DIR; }

ClusterSpec parse_cluster(const json& doc, const std::string& source) {
  Fields r(JsonFields(doc, "cluster file '" + source + "'", "see experiments/sim/cluster.h for the format"));
  ClusterSpec c;
  c.source = source;
  c.name = r.text("name");
  c.description = r.text("description", std::string());
  c.device = read_device(r.object("device"));
  c.network = read_network(r.object("network"));
  r.finish();
  return c;
}

ClusterSpec load_cluster(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  const auto names = shipped_cluster_names();
  const bool shipped = std::find(names.begin(), names.end(), name_or_path) != names.end();
  const std::string path = shipped ? (fs::path(shipped_cluster_dir()) / (name_or_path + ".json")).string() : name_or_path;
  if (!shipped && !fs::exists(path)) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    TRIDENT_FAIL("cluster '", name_or_path, "' is neither a shipped cluster (", list, ") nor an existing file");
  }
  return parse_cluster(read_json_file(path, "cluster file", /*comments=*/true), path);
}

json to_json(const ClusterSpec& c) {
  const DeviceSpec& d = c.device;
  json gemm = {{"max_efficiency", d.gemm.max_efficiency}, {"half_dim", d.gemm.half_dim}};
  if (!d.gemm.table.empty()) {
    json rows = json::array();
    for (const GemmModel::Point& p : d.gemm.table) {
      json row = {p.m, p.n, p.k, p.efficiency};
      if (!p.trans.empty()) row.push_back(p.trans);
      rows.push_back(row);
    }
    gemm["table"] = rows;
  }
  json dev = {{"kind", d.kind == DeviceSpec::Kind::kGpu ? "gpu" : "cpu"},
              {"peak_flops", d.peak_flops},
              {"memory_bytes", d.memory_bytes},
              {"memory_bandwidth", d.memory_bandwidth},
              {"gemm", gemm},
              {"attention_efficiency", d.attention_efficiency},
              {"attention_score_bytes", d.attention_score_bytes},
              {"attention_score_bytes_backward", d.attention_score_bytes_backward},
              {"memory_efficiency", d.memory_efficiency},
              {"op_overhead_s", d.op_overhead_s}};
  if (!d.op_efficiency.empty()) {
    json ops = json::object();
    for (const auto& [name, table] : d.op_efficiency) {
      json rows = json::array();
      for (const auto& [size, e] : table.points) rows.push_back({size, e});
      ops[name] = rows;
    }
    dev["op_efficiency"] = ops;
  }
  if (d.cores > 0) dev["cores"] = d.cores;
  if (!d.thread_speedup.empty()) dev["thread_speedup"] = d.thread_speedup;
  const NetworkSpec& n = c.network;
  json net = {{"devices_per_node", n.devices_per_node},
              {"intra_node", link_json(n.intra_node)},
              {"inter_node", link_json(n.inter_node)},
              {"algorithm", n.algorithm == NetworkSpec::Algorithm::kRing ? "ring" : "tree"},
              {"receive_holds_stage", n.receive_holds_stage}};
  return {{"name", c.name}, {"description", c.description}, {"device", dev}, {"network", net}};
}

}  // namespace trident
