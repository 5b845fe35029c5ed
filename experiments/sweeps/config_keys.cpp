// The train config's keys and types, from to_json(TrainConfig{}): a top-level value or a section
// object of values. The JSON type of a default says what the field takes: booleans, integers
// (int and unsigned fields), any number (floating-point fields), strings, arrays of integers.
#include "experiments/sweeps/config_keys.h"

#include "core/error.h"
#include "experiments/plan/train_config.h"

namespace trident {

namespace {

using json = nlohmann::json;

// model.preset is not a field (it picks the values the other model keys start from).
constexpr const char* kPresetKey = "model.preset";

const json& defaults() {
  static const json d = to_json(TrainConfig{});
  return d;
}

// The default value at a dotted key, or nullptr when there is none (or it names a section).
const json* default_at(const std::string& key) {
  const json* node = &defaults();
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = key.find('.', begin);
    const std::string part = key.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &node->at(part);
    if (dot == std::string::npos) return node->is_object() ? nullptr : node;
    begin = dot + 1;
  }
}

std::string keys_of(const json& object, const std::string& prefix) {
  std::string list;
  for (const auto& [k, v] : object.items()) list += (list.empty() ? "" : ", ") + (prefix.empty() ? k : prefix + "." + k);
  return list;
}

[[noreturn]] void unknown(const std::string& where, const std::string& key) {
  const std::size_t dot = key.find('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
  const json& d = defaults();
  if (!section.empty() && d.contains(section) && d.at(section).is_object()) {
    std::string list = keys_of(d.at(section), section);
    if (section == "model") list += std::string(", ") + kPresetKey;
    TRIDENT_FAIL(where, ": '", key, "' is not a config key; the keys of ", section, " are ", list);
  }
  std::string tops;
  for (const auto& [k, v] : d.items()) tops += (tops.empty() ? "" : ", ") + k + (v.is_object() ? ".*" : "");
  TRIDENT_FAIL(where, ": '", key, "' is not a config key; a key is one of ", tops,
               " (sections hold keys: write layout.dp, not layout)");
}

std::string shown(const json& value) {
  std::string text = value.dump();
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

}  // namespace

bool is_config_key(const std::string& key) { return key == kPresetKey || default_at(key) != nullptr; }

void check_config_value(const std::string& where, const std::string& key, const json& value) {
  const json* d = key == kPresetKey ? nullptr : default_at(key);
  if (key != kPresetKey && d == nullptr) unknown(where, key);
  auto wrong = [&](const char* wanted) {
    TRIDENT_FAIL(where, " has the wrong type for ", key, ": found ", value.type_name(), " ", shown(value), ", wanted ",
                 wanted);
  };
  if (key == kPresetKey) {
    if (!value.is_string()) wrong("a string (a preset name: default, mini, small)");
  } else if (d->is_boolean()) {
    if (!value.is_boolean()) wrong("a boolean (true or false)");
  } else if (d->is_number_integer()) {
    if (!value.is_number_integer()) wrong("an integer");
  } else if (d->is_number()) {
    if (!value.is_number()) wrong("a number");
  } else if (d->is_string()) {
    if (!value.is_string()) wrong("a string");
  } else if (d->is_array()) {
    if (!value.is_array()) wrong("an array of integers");
    for (const json& item : value)
      if (!item.is_number_integer()) wrong("an array of integers");
  }
}

void check_config_object(const std::string& where, const json& object) {
  TRIDENT_CHECK(object.is_object(), where, " has the wrong type: found ", object.type_name(),
                ", wanted an object (a train config, e.g. {\"layout\": {\"dp\": 2}})");
  for (const auto& [key, value] : object.items()) {
    const json& d = defaults();
    if (d.contains(key) && d.at(key).is_object()) {
      TRIDENT_CHECK(value.is_object(), where, ".", key, " has the wrong type: found ", value.type_name(),
                    ", wanted an object (the ", key, " section)");
      for (const auto& [sub, item] : value.items()) check_config_value(where + "." + key + "." + sub, key + "." + sub, item);
    } else {
      check_config_value(where + "." + key, key, value);
    }
  }
}

}  // namespace trident
