// Reading a sweep spec: every key known, every value of the right type and shape, errors naming
// the field. ordered_json keeps the grid in the order it was written (the order of the axes).
#include "experiments/sweeps/sweep_spec.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/sweeps/config_keys.h"

namespace trident {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kSpecKeys[] = {"description", "base",          "grid",    "zip",    "filter",
                                     "plots",       "timeout_s",     "launcher", "gpus_per_node", "slurm",
                                     "sim_cluster"};
constexpr const char* kSlurmKeys[] = {"partition", "account", "sbatch_args", "max_jobs"};

template <std::size_t N>
std::string join(const char* const (&names)[N]) {
  std::string out;
  for (const char* n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

template <std::size_t N>
bool among(const std::string& key, const char* const (&names)[N]) {
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return key == n; });
}

std::string shown(const ojson& v) {
  std::string text = v.dump();
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

[[noreturn]] void wrong_type(const std::string& field, const ojson& v, const std::string& wanted) {
  TRIDENT_FAIL(field, " has the wrong type: found ", v.type_name(), " ", shown(v), ", wanted ", wanted);
}

std::string read_string(const std::string& field, const ojson& v) {
  if (!v.is_string()) wrong_type(field, v, "a string");
  return v.get<std::string>();
}

void read_grid(SweepSpec& s, const ojson& grid) {
  if (!grid.is_object()) wrong_type("grid", grid, "an object of \"dotted.key\": [values...]");
  TRIDENT_CHECK(!grid.empty(), "grid is empty: give at least one key with a list of values, e.g. ",
                "{\"layout.schedule\": [\"1f1b\", \"zb-h1\"]}");
  for (const auto& [key, values] : grid.items()) {
    const std::string field = "grid." + key;
    TRIDENT_CHECK(key != "out_dir", field, ": the sweep sets each point's out_dir (a folder under --out); remove it");
    if (!values.is_array()) wrong_type(field, values, "a list of values, e.g. [1, 2, 4]");
    TRIDENT_CHECK(!values.empty(), field, " is empty: give at least one value");
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string item = field + "[" + std::to_string(i) + "]";
      if (is_tag_key(key)) {
        if (!values[i].is_string() && !values[i].is_number()) wrong_type(item, values[i], "a string or a number (a tag)");
      } else {
        check_config_value(item, key, nlohmann::json::parse(values[i].dump()));
      }
    }
    s.keys.push_back(key);
  }
}

// The axes: each zip group is one axis, placed where its first key stands in the grid; every other
// key is an axis of its own.
void read_axes(SweepSpec& s, const ojson& grid, const ojson* zip) {
  std::vector<std::vector<std::string>> groups;
  if (zip) {
    if (!zip->is_array()) wrong_type("zip", *zip, "a list of lists of grid keys, e.g. [[\"layout.pp\", \"model.layers\"]]");
    std::set<std::string> seen;
    for (std::size_t g = 0; g < zip->size(); ++g) {
      const std::string field = "zip[" + std::to_string(g) + "]";
      const ojson& group = (*zip)[g];
      if (!group.is_array() || group.empty()) wrong_type(field, group, "a non-empty list of grid keys");
      std::vector<std::string> keys;
      for (std::size_t k = 0; k < group.size(); ++k) {
        const std::string key = read_string(field + "[" + std::to_string(k) + "]", group[k]);
        TRIDENT_CHECK(grid.contains(key), field, ": '", key, "' is not a key of grid (zip lists grid keys whose ",
                      "values vary together)");
        TRIDENT_CHECK(seen.insert(key).second, field, ": '", key, "' is in more than one zip group");
        keys.push_back(key);
      }
      for (const std::string& key : keys)
        TRIDENT_CHECK(grid.at(key).size() == grid.at(keys[0]).size(), field, ": grid.", keys[0], " has ",
                      grid.at(keys[0]).size(), " values but grid.", key, " has ", grid.at(key).size(),
                      ": keys that vary together need lists of the same length");
      groups.push_back(std::move(keys));
    }
  }
  std::set<std::string> placed;
  for (const std::string& key : s.keys) {
    if (placed.count(key)) continue;
    GridAxis axis;
    axis.keys = {key};
    for (const auto& group : groups)
      if (std::find(group.begin(), group.end(), key) != group.end()) axis.keys = group;
    for (std::size_t i = 0; i < grid.at(key).size(); ++i) {
      std::vector<nlohmann::json> row;
      for (const std::string& k : axis.keys) row.push_back(nlohmann::json::parse(grid.at(k)[i].dump()));
      for (std::size_t j = 0; j < i; ++j)
        TRIDENT_CHECK(axis.rows[j] != row, axis.keys.size() == 1 ? "grid." + key : "the zip of grid." + key,
                      " repeats its values at positions ", j, " and ", i, ": give each value once");
      axis.rows.push_back(std::move(row));
    }
    placed.insert(axis.keys.begin(), axis.keys.end());
    s.axes.push_back(std::move(axis));
  }
}

void read_filters(SweepSpec& s, const ojson& filter) {
  if (!filter.is_array()) wrong_type("filter", filter, "a list of conditions, e.g. [\"layout.dp * layout.pp * layout.tp == 8\"]");
  auto known = [&](const std::string& name) {
    return name == "world_size" || is_config_key(name) ||
           (is_tag_key(name) && std::find(s.keys.begin(), s.keys.end(), name) != s.keys.end());
  };
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const std::string field = "filter[" + std::to_string(i) + "]";
    s.filters.push_back(Filter::parse(read_string(field, filter[i]), field, known));
  }
}

void read_slurm(SlurmOptions& o, const ojson& slurm) {
  if (!slurm.is_object()) wrong_type("slurm", slurm, "an object");
  for (const auto& [key, v] : slurm.items()) {
    const std::string field = "slurm." + key;
    if (key == "partition") {
      o.partition = read_string(field, v);
    } else if (key == "account") {
      o.account = read_string(field, v);
    } else if (key == "sbatch_args") {
      if (!v.is_array()) wrong_type(field, v, "a list of sbatch options, e.g. [\"--qos=high\"]");
      for (std::size_t i = 0; i < v.size(); ++i) o.sbatch_args.push_back(read_string(field + "[" + std::to_string(i) + "]", v[i]));
    } else if (key == "max_jobs") {
      if (!v.is_number_integer()) wrong_type(field, v, "an integer");
      TRIDENT_CHECK(v.get<std::int64_t>() >= 0, field, " is ", v.dump(), ": use 0 (no limit) or more jobs");
      o.max_jobs = static_cast<int>(v.get<std::int64_t>());
    } else {
      TRIDENT_FAIL("unknown key 'slurm.", key, "': the keys of slurm are ", join(kSlurmKeys));
    }
  }
}

}  // namespace

const std::vector<std::string>& plot_kinds() {
  static const std::vector<std::string> kinds = {"timeline", "compare", "scaling", "memory"};
  return kinds;
}

bool is_tag_key(const std::string& key) {
  return key.rfind("tag.", 0) == 0 && key.size() > 4 && key.find('.', 4) == std::string::npos;
}

std::size_t SweepSpec::product_size() const {
  std::size_t n = 1;
  for (const GridAxis& a : axes) n *= a.rows.size();
  return n;
}

SweepSpec parse_sweep_spec(const ojson& spec, const std::string& source) {
  try {
    if (!spec.is_object()) wrong_type("the spec", spec, "an object with \"base\" and \"grid\"");
    for (const auto& [key, v] : spec.items())
      TRIDENT_CHECK(among(key, kSpecKeys), "unknown key '", key, "': the keys of a sweep spec are ", join(kSpecKeys));
    TRIDENT_CHECK(spec.contains("grid"), "no grid: give \"grid\": {\"dotted.key\": [values...]}");
    SweepSpec s;
    s.source = source;
    if (spec.contains("description")) s.description = read_string("description", spec.at("description"));
    if (spec.contains("base")) {
      s.base = nlohmann::json::parse(spec.at("base").dump());
      check_config_object("base", s.base);
      TRIDENT_CHECK(!s.base.contains("out_dir"), "base.out_dir: the sweep sets each point's out_dir (a folder under ",
                    "--out); remove it");
    }
    read_grid(s, spec.at("grid"));
    read_axes(s, spec.at("grid"), spec.contains("zip") ? &spec.at("zip") : nullptr);
    if (spec.contains("filter")) read_filters(s, spec.at("filter"));
    if (spec.contains("plots")) {
      const ojson& plots = spec.at("plots");
      if (!plots.is_array()) wrong_type("plots", plots, "a list of plot kinds, e.g. [\"compare\", \"memory\"]");
      for (std::size_t i = 0; i < plots.size(); ++i) {
        const std::string field = "plots[" + std::to_string(i) + "]", kind = read_string(field, plots[i]);
        const auto& kinds = plot_kinds();
        TRIDENT_CHECK(std::find(kinds.begin(), kinds.end(), kind) != kinds.end(), field, " '", kind,
                      "' is not a plot: use timeline, compare, scaling or memory");
        s.plots.push_back(kind);
      }
    }
    if (spec.contains("timeout_s")) {
      const ojson& v = spec.at("timeout_s");
      if (!v.is_number()) wrong_type("timeout_s", v, "a number of seconds");
      s.timeout_s = v.get<double>();
      TRIDENT_CHECK(std::isfinite(s.timeout_s) && s.timeout_s > 0, "timeout_s is ", v.dump(),
                    ": use a positive number of seconds per point");
    }
    if (spec.contains("launcher")) {
      s.launcher = read_string("launcher", spec.at("launcher"));
      TRIDENT_CHECK(s.launcher == "local" || s.launcher == "slurm", "launcher '", s.launcher,
                    "' is not a launcher: use local (mpirun on this machine) or slurm (sbatch per point)");
    }
    if (spec.contains("gpus_per_node")) {
      const ojson& v = spec.at("gpus_per_node");
      if (!v.is_number_integer()) wrong_type("gpus_per_node", v, "an integer");
      TRIDENT_CHECK(v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= 1024, "gpus_per_node is ", v.dump(),
                    ": use the ranks (GPUs) per node, 1 or more");
      s.gpus_per_node = static_cast<int>(v.get<std::int64_t>());
    }
    if (spec.contains("slurm")) read_slurm(s.slurm, spec.at("slurm"));
    if (spec.contains("sim_cluster")) s.sim_cluster = read_string("sim_cluster", spec.at("sim_cluster"));
    return s;
  } catch (const Error& e) {
    TRIDENT_FAIL("sweep spec '", source, "': ", message_of(e));
  }
}

SweepSpec load_sweep_spec(const std::string& path) {
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot read sweep spec '", path, "': ", errno_text(errno));
  std::stringstream text;
  text << in.rdbuf();
  ojson spec;
  try {
    spec = ojson::parse(text.str(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const ojson::parse_error& e) {
    TRIDENT_FAIL("sweep spec '", path, "' is not valid JSON: ", e.what());
  }
  return parse_sweep_spec(spec, path);
}

}  // namespace trident
