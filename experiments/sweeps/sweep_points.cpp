// Expansion: odometer over the axes (last axis fastest), the grid's values written into the base
// config by dotted key, the result resolved by the plan's own parser and validator.
#include "experiments/sweeps/sweep_points.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>

#include "core/error.h"

namespace trident {

namespace {

using json = nlohmann::json;

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = key.find('.', begin);
    parts.push_back(key.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin));
    if (dot == std::string::npos) return parts;
    begin = dot + 1;
  }
}

void set_at(json& tree, const std::string& key, const json& value) {
  json* node = &tree;
  const std::vector<std::string> parts = split_key(key);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    json& next = (*node)[parts[i]];
    if (!next.is_object()) next = json::object();
    node = &next;
  }
  (*node)[parts.back()] = value;
}

// FNV-1a, 64 bits, as plan_hash: a stable name, not a security property.
std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The point's plan, config JSON and hash from the config the spec gives it. out_dir is the
// folder the hash names, so it is left out of both (a constant while hashing).
void resolve(SweepPoint& p, const json& merged) {
  json asked = merged;
  asked["out_dir"] = "sweep-point";
  try {
    const TrainConfig config = read_train_config(asked);
    p.config_json = to_json(config);
    try {
      p.plan = resolve_plan(config);
      p.config_json = to_json(*p.plan);
      p.hash = plan_hash(*p.plan);
    } catch (const std::exception& e) {
      p.error = message_of(e);
    }
  } catch (const std::exception& e) {  // keys and types were checked with the spec: rare
    p.error = message_of(e);
    p.config_json = asked;
  }
  if (!p.plan) p.hash = fnv1a_hex("unresolved " + p.config_json.dump());
  p.config_json.erase("out_dir");
}

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Short names for the grid's keys: the last component, or the whole key when two share it.
std::vector<std::string> short_names(const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const std::string last = k.substr(k.rfind('.') + 1);
    const bool shared = std::count_if(keys.begin(), keys.end(), [&](const std::string& o) {
                          return o.substr(o.rfind('.') + 1) == last;
                        }) > 1;
    out.push_back(shared ? k : last);
  }
  return out;
}

std::string folder_name(const std::string& label, const std::string& hash) {
  std::string name;
  for (const char c : label) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') name += c;
    else if (c == '=') name += '-';
    else if (!name.empty() && name.back() != '_') name += '_';
  }
  if (name.size() > 80) name.resize(80);
  return name + "-" + hash.substr(0, 8);
}

}  // namespace

json value_at(const json& config, const std::string& dotted_key) {
  const json* node = &config;
  for (const std::string& part : split_key(dotted_key)) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &node->at(part);
  }
  return *node;
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec, const std::string& out_dir) {
  const std::string root = std::filesystem::absolute(out_dir).lexically_normal().string();
  const std::vector<std::string> names = short_names(spec.keys);
  std::vector<SweepPoint> points;
  std::set<std::string> hashes;
  std::vector<std::size_t> at(spec.axes.size(), 0);  // the odometer
  for (std::size_t n = 0; n < spec.product_size(); ++n) {
    SweepPoint p;
    // The grid's values in grid order (zip groups put their keys where they were written).
    for (const std::string& key : spec.keys)
      for (std::size_t a = 0; a < spec.axes.size(); ++a)
        for (std::size_t k = 0; k < spec.axes[a].keys.size(); ++k)
          if (spec.axes[a].keys[k] == key) p.values.emplace_back(key, spec.axes[a].rows[at[a]][k]);

    json merged = spec.base;
    for (std::size_t i = 0; i < p.values.size(); ++i) {
      const auto& [key, value] = p.values[i];
      if (is_tag_key(key)) p.tags[key] = value;
      else set_at(merged, key, value);
      p.label += (p.label.empty() ? "" : " ") + names[i] + "=" + value_text(value);
    }
    resolve(p, merged);
    p.world_size = 1;
    for (const char* axis : {"layout.dp", "layout.pp", "layout.tp"}) {
      const json v = value_at(p.config_json, axis);
      p.world_size *= v.is_number_integer() ? v.get<int>() : 0;
    }
    const auto lookup = [&](const std::string& name) -> json {
      if (name == "world_size") return p.world_size;
      if (is_tag_key(name)) return p.tags.value(name, json());
      return value_at(p.config_json, name);
    };
    const bool keep = std::all_of(spec.filters.begin(), spec.filters.end(), [&](const Filter& f) { return f.holds(lookup); });

    if (keep) {
      if (!p.tags.empty()) p.hash = fnv1a_hex(p.hash + p.tags.dump());
      TRIDENT_CHECK(hashes.insert(p.hash).second, "sweep spec '", spec.source, "': the point ", p.label,
                    " has the same config as an earlier point (", p.hash, "): a grid value that resolves to the same ",
                    "run twice; remove it or add a tag.* key to tell them apart");
      p.dir = (std::filesystem::path(root) / folder_name(p.label, p.hash)).string();
      if (p.plan) p.plan->out_dir = p.dir;
      p.index = static_cast<int>(points.size());
      points.push_back(std::move(p));
    }
    // Advance the odometer: the last axis varies fastest.
    for (std::size_t a = spec.axes.size(); a-- > 0;) {
      if (++at[a] < spec.axes[a].rows.size()) break;
      at[a] = 0;
    }
  }
  TRIDENT_CHECK(!points.empty(), "sweep spec '", spec.source, "': the filters leave none of the ", spec.product_size(),
                " points of the grid: check the filter rules");
  return points;
}

}  // namespace trident
