// TrainConfig from JSON: one table of fields (name, where it lives in the struct) drives reading,
// `--set` overrides and writing, so a key cannot be readable but unwritten or vice versa. Reading
// is strict (unknown keys and wrong types are errors) because a misspelt key that is silently
// ignored runs the wrong experiment for hours. validate() then checks every value and the
// combinations of values, before any rank does work.
#include "experiments/plan/train_config.h"
#include "experiments/plan/plan.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/error.h"
#include "experiments/plan/json_file.h"
#include "experiments/plan/model_presets.h"

namespace trident {

namespace {

using json = nlohmann::json;

// ---- the field table ----------------------------------------------------------------------------

// Where a field lives; the pointer type says which JSON type it takes.
using Ref = std::variant<int*, std::int64_t*, std::uint64_t*, double*, float*, bool*, std::string*,
                         std::vector<std::int64_t>*>;

struct Field {
  const char* name;
  std::function<Ref(TrainConfig&)> ref;
};

// A JSON object of the config: "" is the top level, the others are its sub-objects.
struct Section {
  const char* name;
  std::vector<Field> fields;
};

#define TOP(f) Field{#f, [](TrainConfig& c) -> Ref { return &c.f; }}
#define IN(s, f) Field{#f, [](TrainConfig& c) -> Ref { return &c.s.f; }}

const std::vector<Section>& sections() {
  static const std::vector<Section> all = {
      {"model",
       {IN(model, layers), IN(model, hidden), IN(model, heads), IN(model, seq_len), IN(model, vocab),
        IN(model, seed), IN(model, ln_eps), IN(model, init_std)}},
      {"layout",
       {IN(layout, dp), IN(layout, pp), IN(layout, tp), IN(layout, order), IN(layout, schedule),
        IN(layout, schedule_file), IN(layout, micro_batches), IN(layout, micro_batch_size), IN(layout, v),
        IN(layout, layers_per_chunk), IN(layout, sequence_parallel), IN(layout, recompute), IN(layout, zero),
        IN(layout, bucket_mb), IN(layout, overlap_grad_reduce)}},
      {"optimizer",
       {IN(optimizer, lr), IN(optimizer, min_lr), IN(optimizer, warmup_steps), IN(optimizer, beta1),
        IN(optimizer, beta2), IN(optimizer, eps), IN(optimizer, weight_decay), IN(optimizer, grad_clip)}},
      {"data", {IN(data, train), IN(data, val), IN(data, seed)}},
      {"",
       {TOP(steps), TOP(eval_interval), TOP(eval_batches), TOP(checkpoint_interval), TOP(resume), TOP(init_from), TOP(out_dir),
        TOP(device), TOP(precision), TOP(comm), TOP(peak_flops), TOP(log_interval), TOP(max_consecutive_skips)}},
  };
  return all;
}

#undef TOP
#undef IN

// "model" takes one key that is not a field: the preset the other model keys start from.
constexpr const char* kPresetKey = "preset";

const Section& top_section() { return sections().back(); }

const Section* find_section(std::string_view name) {
  for (const Section& s : sections())
    if (*s.name != '\0' && name == s.name) return &s;
  return nullptr;
}

const Field* find_field(const Section& section, std::string_view name) {
  for (const Field& f : section.fields)
    if (name == f.name) return &f;
  return nullptr;
}

std::string dotted(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// ---- unknown keys -------------------------------------------------------------------------------

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The keys allowed in the section called `prefix` ("" = top level), in the order they are documented.
std::vector<std::string> allowed_keys(const std::string& prefix) {
  std::vector<std::string> keys;
  if (prefix.empty()) {
    for (const Section& s : sections())
      if (*s.name != '\0') keys.emplace_back(s.name);
  } else if (prefix == "model") {
    keys.emplace_back(kPresetKey);
  }
  const Section* s = prefix.empty() ? &top_section() : find_section(prefix);
  for (const Field& f : s->fields) keys.emplace_back(f.name);
  return keys;
}

// Keys that were renamed: an old key is an error naming its successor (silently accepting it would
// keep two spellings alive; silently ignoring it would run the wrong experiment).
struct RenamedKey {
  const char* old_key;
  const char* new_key;
  const char* why;
};
constexpr RenamedKey kRenamedKeys[] = {
    {"layout.layers_per_stage", "layout.layers_per_chunk",
     "it lists transformer blocks per chunk (a stage holds v chunks)"},
    {"layout.zero1", "layout.zero", "ZeRO is one setting with stages 0-3: zero1 = true is zero = 1"},
};

[[noreturn]] void unknown_key(const std::string& prefix, const std::string& key) {
  for (const RenamedKey& r : kRenamedKeys)
    if (dotted(prefix, key) == r.old_key)
      TRIDENT_FAIL("'", r.old_key, "' was renamed to '", r.new_key, "' (", r.why, "): use ", r.new_key);
  const std::vector<std::string> keys = allowed_keys(prefix);
  std::string list, closest;
  std::size_t best = std::numeric_limits<std::size_t>::max(), best_prefix = 0;
  for (const std::string& k : keys) {
    list += (list.empty() ? "" : ", ") + k;
    // Closest by edit distance; ties go to the longer common prefix ("tpp" means tp, not pp).
    const std::size_t d = edit_distance(key, k);
    const auto mismatch = std::mismatch(key.begin(), key.end(), k.begin(), k.end());
    const auto common = static_cast<std::size_t>(mismatch.first - key.begin());
    if (d < best || (d == best && common > best_prefix)) best = d, best_prefix = common, closest = k;
  }
  const std::string where = prefix.empty() ? "the top-level keys are " : "the keys of " + prefix + " are ";
  const bool near = best <= std::max<std::size_t>(1, key.size() / 3);
  TRIDENT_FAIL("unknown key '", dotted(prefix, key), "': ", where, list,
               near ? "; did you mean '" + dotted(prefix, closest) + "'?" : std::string());
}

// ---- reading values -----------------------------------------------------------------------------

std::string shown(const json& value) {
  std::string text = value.dump();
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

[[noreturn]] void wrong_type(const std::string& path, const json& value, std::string_view wanted) {
  TRIDENT_FAIL(path, " has the wrong type: found ", value.type_name(), " ", shown(value), ", wanted ", wanted);
}

std::int64_t read_integer(const std::string& path, const json& value, std::int64_t lo, std::int64_t hi) {
  if (!value.is_number_integer()) wrong_type(path, value, "an integer");
  constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const bool too_big = value.is_number_unsigned() && value.get<std::uint64_t>() > kInt64Max;
  const std::int64_t n = too_big ? hi : value.get<std::int64_t>();
  TRIDENT_CHECK(!too_big && n >= lo && n <= hi, path, " is ", shown(value), ": out of range for an integer field (",
                lo, " .. ", hi, ")");
  return n;
}

void read_into(const std::string& path, const json& value, Ref ref) {
  std::visit(
      [&](auto* field) {
        using T = std::remove_pointer_t<decltype(field)>;
        if constexpr (std::is_same_v<T, int>) {
          *field = static_cast<int>(
              read_integer(path, value, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          *field = read_integer(path, value, std::numeric_limits<std::int64_t>::min(),
                                std::numeric_limits<std::int64_t>::max());
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (!value.is_number_integer()) wrong_type(path, value, "a non-negative integer");
          TRIDENT_CHECK(value.is_number_unsigned(), path, " is ", shown(value), ": use a non-negative integer");
          *field = value.get<std::uint64_t>();
        } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
          if (!value.is_number()) wrong_type(path, value, "a number");
          *field = value.get<T>();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!value.is_boolean()) wrong_type(path, value, "a boolean (true or false)");
          *field = value.get<bool>();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (!value.is_string()) wrong_type(path, value, "a string");
          *field = value.get<std::string>();
        } else {
          if (!value.is_array()) wrong_type(path, value, "an array of integers");
          field->clear();
          for (std::size_t i = 0; i < value.size(); ++i)
            field->push_back(read_integer(path + "[" + std::to_string(i) + "]", value[i],
                                          std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::max()));
        }
      },
      ref);
}

// The model every experiment starts from unless the config names another preset.
GptConfig default_model() { return TrainConfig{}.model; }

GptConfig model_preset(const json& value) {
  if (!value.is_string()) wrong_type("model.preset", value, "a string (mini, small or default)");
  const std::string name = value.get<std::string>();
  if (name == "default") return default_model();
  if (name == "mini") return GptConfig::mini();
  if (name == "small") return GptConfig::small();
  if (const std::optional<GptConfig> published = published_model(name)) return *published;
  std::string published_names;
  for (const std::string& n : published_model_names()) published_names += ", " + n;
  TRIDENT_FAIL("model.preset '", name, "' is not a preset: use default (L4 h128 nh4 S128 V257), mini (L4 h256 nh8 ",
               "S256 V4096), small (GPT-2 124M: L12 h768 nh12 S1024 V50304) or a published shape (",
               published_names.substr(2), "; experiments/plan/model_presets.h)");
}

void read_section(TrainConfig& config, const std::string& prefix, const json& object) {
  if (!object.is_object()) wrong_type(prefix.empty() ? "the config" : prefix, object, "an object");
  const Section& section = prefix.empty() ? top_section() : *find_section(prefix);
  // The preset is the starting point, whatever the key order: the other model keys override it.
  if (prefix == "model" && object.contains(kPresetKey)) config.model = model_preset(object.at(kPresetKey));
  for (const auto& [key, value] : object.items()) {
    if (prefix == "model" && key == kPresetKey) continue;
    if (const Field* f = find_field(section, key)) {
      read_into(dotted(prefix, key), value, f->ref(config));
    } else if (prefix.empty() && find_section(key)) {
      read_section(config, key, value);
    } else {
      unknown_key(prefix, key);
    }
  }
}

// ---- overrides ----------------------------------------------------------------------------------

// What a dotted path names: a section (value must be an object), a field, or model.preset.
struct Target {
  bool section = false;
  bool string = false;  // takes a string: an override's unquoted text is kept as written
};

Target resolve(const std::vector<std::string>& path) {
  std::string prefix;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const std::string& key = path[i];
    const bool last = i + 1 == path.size();
    const Section& section = prefix.empty() ? top_section() : *find_section(prefix);
    if (prefix.empty() && find_section(key)) {
      if (last) return {true, false};
      prefix = key;
      continue;
    }
    const bool preset = prefix == "model" && key == kPresetKey;
    const Field* f = preset ? nullptr : find_field(section, key);
    if (!preset && !f) unknown_key(prefix, key);
    TRIDENT_CHECK(last, "unknown key '", dotted(prefix, key), ".", path[i + 1], "': ", dotted(prefix, key),
                  " is a value, not an object with keys");
    TrainConfig probe;
    return {false, preset || std::holds_alternative<std::string*>(f->ref(probe))};
  }
  TRIDENT_FAIL("empty key path");
}

// Puts `value` at `path` in `tree`, creating objects on the way; an object given for a section is
// merged key by key, so each of its keys is checked like a path of its own.
void set_at(json& tree, const std::vector<std::string>& path, const json& value) {
  const Target target = resolve(path);
  if (target.section && value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      std::vector<std::string> sub = path;
      sub.push_back(key);
      set_at(tree, sub, item);
    }
    return;
  }
  json* node = &tree;
  std::string walked;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    walked = dotted(walked, path[i]);
    json& next = (*node)[path[i]];
    if (next.is_null()) next = json::object();
    if (!next.is_object()) wrong_type(walked, next, "an object");
    node = &next;
  }
  (*node)[path.back()] = value;
}

void apply_override(json& tree, const std::string& text) {
  const auto eq = text.find('=');
  TRIDENT_CHECK(eq != std::string::npos && eq > 0, "override '", text,
                "' is not key.path=value (e.g. layout.tp=4, optimizer.lr=3e-4, layout.schedule=zb-v)");
  const std::string key = text.substr(0, eq), raw = text.substr(eq + 1);
  std::vector<std::string> path;
  std::stringstream parts(key);
  for (std::string part; std::getline(parts, part, '.');) {
    TRIDENT_CHECK(!part.empty(), "override '", text, "': the key '", key, "' has an empty component");
    path.push_back(part);
  }
  TRIDENT_CHECK(!path.empty() && key.back() != '.', "override '", text, "': the key '", key,
                "' has an empty component");
  const Target target = resolve(path);
  const std::optional<json> parsed = parse_json_if_valid(raw, "override '" + key + "'");
  // Text that is not JSON is a string; so is anything given for a string field (out_dir=2024 is
  // the directory "2024", not a type error).
  const json value = !parsed || (target.string && !parsed->is_string()) ? json(raw) : *parsed;
  set_at(tree, path, value);
}

// ---- writing ------------------------------------------------------------------------------------

// A float written through double prints as 9.999999747378752e-06; its shortest form (1e-05) reads
// back to the same float, and is what a person wrote.
double shortest(float f) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
  return ec == std::errc() ? std::stod(std::string(buf, end)) : static_cast<double>(f);
}

json value_of(const Ref& ref) {
  return std::visit(
      [](auto* field) -> json {
        if constexpr (std::is_same_v<std::remove_pointer_t<decltype(field)>, float>) return shortest(*field);
        else return json(*field);
      },
      ref);
}

void check_files(const TrainConfig& c) {
  namespace fs = std::filesystem;
  for (const auto& [field, path] : {std::pair<std::string, std::string>{"data.train", c.data.train},
                                    std::pair<std::string, std::string>{"data.val", c.data.val}}) {
    if (path.empty()) continue;
    TRIDENT_CHECK(fs::exists(path), field, " '", path, "' does not exist: give an llm.c token file (.bin), or ",
                  "leave ", field, " empty to use the default corpus");
    TRIDENT_CHECK(fs::is_regular_file(path), field, " '", path, "' is not a file: give an llm.c token file (.bin)");
  }
  if (!c.resume.empty() && c.resume != "auto") {
    TRIDENT_CHECK(fs::is_directory(c.resume), "resume '", c.resume, "' is not an existing directory: give a ",
                  "checkpoint directory written by an earlier run, auto (the newest one in out_dir), or leave ",
                  "resume empty to start from scratch");
  }
  if (!c.init_from.empty()) {
    TRIDENT_CHECK(fs::is_directory(c.init_from), "init_from '", c.init_from, "' is not an existing directory: give a ",
                  "Hugging Face GPT-2 folder (config.json + model.safetensors, e.g. from `trident export`) or a ",
                  "checkpoint");
    TRIDENT_CHECK(c.resume.empty() || c.resume == "auto", "init_from and resume are both set: resume continues a run ",
                  "(weights, optimizer state, step), init_from starts one from weights; keep one (resume=auto ",
                  "with init_from resumes the run's own checkpoint once it has one)");
  }
}

}  // namespace

TrainConfig read_train_config(const nlohmann::json& json, const std::vector<std::string>& overrides) {
  if (!json.is_object()) wrong_type("the config", json, "an object (e.g. {\"layout\": {\"tp\": 2}})");
  nlohmann::json merged = json;
  for (const std::string& o : overrides) apply_override(merged, o);
  TrainConfig config;
  read_section(config, "", merged);
  return config;
}

TrainConfig parse_train_config(const nlohmann::json& json, const std::vector<std::string>& overrides) {
  TrainConfig config = read_train_config(json, overrides);
  validate(config);
  return config;
}

namespace {
// Runs `body` on the file's JSON, naming the file in any error it throws.
template <typename F>
TrainConfig with_config_file(const std::string& path, F&& body) {
  // A directory, a huge file, a syntax error or a hostile nesting depth: one line naming the file.
  const nlohmann::json json = read_json_file(path, "config file", /*comments=*/true);
  try {
    return body(json);
  } catch (const Error& e) {
    TRIDENT_FAIL("config file '", path, "': ", message_of(e));
  }
}
}  // namespace

TrainConfig read_train_config_file(const std::string& path, const std::vector<std::string>& overrides) {
  return with_config_file(path, [&](const nlohmann::json& j) { return read_train_config(j, overrides); });
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  return with_config_file(path, [&](const nlohmann::json& j) { return parse_train_config(j, overrides); });
}

void validate(const TrainConfig& c) {
  (void)resolve_plan(c);
  check_files(c);
}

nlohmann::json to_json(const TrainConfig& config) {
  TrainConfig copy = config;  // the field table hands out mutable references
  nlohmann::json out = nlohmann::json::object();
  for (const Section& s : sections()) {
    nlohmann::json& node = *s.name == '\0' ? out : out[s.name];
    for (const Field& f : s.fields) node[f.name] = value_of(f.ref(copy));
  }
  return out;
}

}  // namespace trident
