// TrainConfig from JSON: one table of fields (name, where it lives in the struct) drives reading,
// `--set` overrides and writing, so a key cannot be readable but unwritten or vice versa. Reading
// is strict (unknown keys and wrong types are errors) because a misspelt key that is silently
// ignored runs the wrong experiment for hours. validate() then checks every value and the
// combinations of values, before any rank does work.
#include "experiments/plan/train_config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/device.h"
#include "core/error.h"
#include "layers/tensor_parallel.h"
#include "parallel/mesh_layout.h"
#include "schedules/generators.h"
#include "schedules/schedule.h"
#include "schedules/validator.h"

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
        IN(layout, layers_per_chunk), IN(layout, sequence_parallel), IN(layout, recompute), IN(layout, zero1),
        IN(layout, bucket_mb), IN(layout, overlap_grad_reduce)}},
      {"optimizer",
       {IN(optimizer, lr), IN(optimizer, min_lr), IN(optimizer, warmup_steps), IN(optimizer, beta1),
        IN(optimizer, beta2), IN(optimizer, eps), IN(optimizer, weight_decay), IN(optimizer, grad_clip)}},
      {"data", {IN(data, train), IN(data, val), IN(data, seed)}},
      {"",
       {TOP(steps), TOP(eval_interval), TOP(eval_batches), TOP(checkpoint_interval), TOP(resume), TOP(out_dir),
        TOP(device), TOP(precision), TOP(comm), TOP(peak_flops), TOP(log_interval)}},
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
  TRIDENT_FAIL("model.preset '", name, "' is not a preset: use default (L4 h128 nh4 S128 V257), mini (L4 h256 nh8 ",
               "S256 V4096) or small (GPT-2 124M: L12 h768 nh12 S1024 V50304)");
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
  json value = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  // Text that is not JSON is a string; so is anything given for a string field (out_dir=2024 is
  // the directory "2024", not a type error).
  if (value.is_discarded() || (target.string && !value.is_string())) value = raw;
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

// ---- validation helpers -------------------------------------------------------------------------

// A nested error's message without its "file.cpp:123: " prefix, to follow our own field name.
std::string bare(const Error& e) {
  const std::string m = e.what();
  const auto sep = m.find(": ");
  if (sep == std::string::npos) return m;
  const auto colon = m.rfind(':', sep - 1);
  if (colon == std::string::npos || colon + 1 >= sep) return m;
  const std::string line = m.substr(colon + 1, sep - colon - 1);
  const bool located = std::all_of(line.begin(), line.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  return located ? m.substr(sep + 2) : m;
}

template <typename F>
void prefixed(const std::string& field, F&& check) {
  try {
    check();
  } catch (const Error& e) {
    TRIDENT_FAIL(field, ": ", bare(e));
  }
}

std::string divisors(std::int64_t n) {
  std::string out;
  for (std::int64_t d = 1; d <= n && d <= 1024; ++d)
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  return out;
}

void check_optimizer(const OptimizerConfig& o) {
  TRIDENT_CHECK(std::isfinite(o.lr) && o.lr > 0, "optimizer.lr is ", o.lr,
                ": use a positive learning rate (e.g. 1e-3)");
  TRIDENT_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0 && o.min_lr <= o.lr, "optimizer.min_lr is ", o.min_lr,
                ": the cosine floor must lie in [0, optimizer.lr = ", o.lr, "] (e.g. lr / 10)");
  TRIDENT_CHECK(o.warmup_steps >= 0, "optimizer.warmup_steps is ", o.warmup_steps, ": use 0 (no warm-up) or more");
  TRIDENT_CHECK(o.beta1 >= 0 && o.beta1 < 1, "optimizer.beta1 is ", o.beta1, ": use a value in [0, 1) (e.g. 0.9)");
  TRIDENT_CHECK(o.beta2 >= 0 && o.beta2 < 1, "optimizer.beta2 is ", o.beta2, ": use a value in [0, 1) (e.g. 0.95)");
  TRIDENT_CHECK(std::isfinite(o.eps) && o.eps > 0, "optimizer.eps is ", o.eps,
                ": use a small positive value (e.g. 1e-8)");
  TRIDENT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "optimizer.weight_decay is ", o.weight_decay,
                ": use 0 (none) or a positive value (e.g. 0.1)");
  TRIDENT_CHECK(std::isfinite(o.grad_clip) && o.grad_clip >= 0, "optimizer.grad_clip is ", o.grad_clip,
                ": use 0 (no clipping) or a positive gradient-norm bound (e.g. 1.0)");
}

void check_sizes(const TrainConfig& c) {
  const LayoutConfig& l = c.layout;
  TRIDENT_CHECK(l.dp >= 1, "layout.dp is ", l.dp, ": use at least 1");
  TRIDENT_CHECK(l.pp >= 1, "layout.pp is ", l.pp, ": use at least 1");
  TRIDENT_CHECK(l.tp >= 1, "layout.tp is ", l.tp, ": use at least 1");
  TRIDENT_CHECK(l.micro_batches >= 1, "layout.micro_batches is ", l.micro_batches, ": use at least 1");
  TRIDENT_CHECK(l.micro_batch_size >= 1, "layout.micro_batch_size is ", l.micro_batch_size, ": use at least 1");
  TRIDENT_CHECK(l.v >= 1, "layout.v is ", l.v, ": use at least 1 chunk per rank");
  TRIDENT_CHECK(std::isfinite(l.bucket_mb) && l.bucket_mb > 0, "layout.bucket_mb is ", l.bucket_mb,
                ": use a positive gradient bucket size in MiB (e.g. 4)");
  TRIDENT_CHECK(c.steps >= 1, "steps is ", c.steps, ": use at least 1");
  TRIDENT_CHECK(c.eval_interval >= 0, "eval_interval is ", c.eval_interval, ": use 0 (never) or a step count");
  TRIDENT_CHECK(c.eval_batches >= 1, "eval_batches is ", c.eval_batches, ": use at least 1 micro-batch per evaluation");
  TRIDENT_CHECK(c.checkpoint_interval >= 0, "checkpoint_interval is ", c.checkpoint_interval,
                ": use 0 (never) or a step count");
  TRIDENT_CHECK(c.log_interval >= 1, "log_interval is ", c.log_interval, ": use at least 1 (a line every N steps)");
  TRIDENT_CHECK(std::isfinite(c.peak_flops) && c.peak_flops >= 0, "peak_flops is ", c.peak_flops,
                ": use 0 (measure it) or the device's peak FLOP/s per rank (e.g. 989e12 for an H100's bf16)");
  TRIDENT_CHECK(!c.out_dir.empty(), "out_dir is empty: name the directory metrics and checkpoints go to");
}

// The pipeline the config asks for: its chunk count, and words for messages about it.
struct Pipeline {
  int chunks = 1;
  std::string how;  // "layout.pp 2 × v 2 for interleaved"
};

Pipeline check_schedule(const LayoutConfig& l) {
  namespace fs = std::filesystem;
  if (!l.schedule_file.empty()) {
    TRIDENT_CHECK(fs::is_regular_file(l.schedule_file), "layout.schedule_file '", l.schedule_file,
                  "' does not exist: give a schedule in text form (`trident schedule --save FILE` writes one), ",
                  "or leave schedule_file empty to use layout.schedule");
    Schedule s;
    prefixed("layout.schedule_file", [&] { s = Schedule::load(l.schedule_file); });
    TRIDENT_CHECK(s.pp == l.pp, "layout.schedule_file '", l.schedule_file, "' is for pp=", s.pp, " but layout.pp is ",
                  l.pp, ": set layout.pp to ", s.pp, " or use a schedule made for pp=", l.pp);
    TRIDENT_CHECK(s.micro_batches == l.micro_batches, "layout.schedule_file '", l.schedule_file,
                  "' runs micro_batches=", s.micro_batches, " but layout.micro_batches is ", l.micro_batches,
                  ": set layout.micro_batches to ", s.micro_batches, " or use a schedule made for ", l.micro_batches);
    prefixed("layout.schedule_file", [&] { check_valid(s); });
    return {s.num_chunks(), "pp " + std::to_string(s.pp) + " × v " + std::to_string(s.v) + " of layout.schedule_file"};
  }
  const auto names = schedule_names();
  if (std::find(names.begin(), names.end(), l.schedule) == names.end()) {
    std::string list;
    for (std::string_view n : names) list += (list.empty() ? "" : ", ") + std::string(n);
    TRIDENT_FAIL("layout.schedule '", l.schedule, "' is not a schedule: use one of ", list,
                 ", or set layout.schedule_file to a schedule in text form");
  }
  int v = 1;
  if (l.schedule == "interleaved") {
    TRIDENT_CHECK(l.v >= 2, "layout.v is ", l.v, " but interleaved needs at least 2 chunks per rank: set layout.v ",
                  "to 2 or more, or use layout.schedule 1f1b for one chunk per rank");
    v = l.v;
  } else if (l.schedule == "zb-v") {
    TRIDENT_CHECK(l.v == 2, "layout.v is ", l.v, " but zb-v always runs 2 chunks per rank (its V placement): set ",
                  "layout.v to 2, or use interleaved for other chunk counts");
    v = 2;
  }
  // The generators own the micro-batch rules; building the schedule is the check.
  prefixed("layout.micro_batches", [&] { (void)make_schedule(l.schedule, l.pp, v, l.micro_batches); });
  return {l.pp * v, "layout.pp " + std::to_string(l.pp) + " × v " + std::to_string(v) + " for " + l.schedule};
}

void check_layers(const TrainConfig& c, const Pipeline& p) {
  const auto& counts = c.layout.layers_per_chunk;
  if (counts.empty()) {
    TRIDENT_CHECK(c.model.layers >= p.chunks, "model.layers ", c.model.layers, " is fewer than the ", p.chunks,
                  " pipeline chunks (", p.how, "): each chunk needs at least one transformer block; use more ",
                  "layers, a smaller layout.pp or v, or list the blocks per chunk in layout.layers_per_chunk");
    return;
  }
  TRIDENT_CHECK(static_cast<int>(counts.size()) == p.chunks, "layout.layers_per_chunk has ", counts.size(),
                " entries but the pipeline has ", p.chunks, " chunks (", p.how, "): give one block count per chunk");
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    TRIDENT_CHECK(counts[i] >= 0, "layout.layers_per_chunk[", i, "] is ", counts[i], ": use 0 or more blocks");
    sum += counts[i];
  }
  TRIDENT_CHECK(sum == c.model.layers, "layout.layers_per_chunk sums to ", sum, " but model.layers is ",
                c.model.layers, ": the counts must add up to the model's blocks");
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
  if (!c.resume.empty()) {
    TRIDENT_CHECK(fs::is_directory(c.resume), "resume '", c.resume, "' is not an existing directory: give a ",
                  "checkpoint directory written by an earlier run, or leave resume empty to start from scratch");
  }
}

}  // namespace

TrainConfig parse_train_config(const nlohmann::json& json, const std::vector<std::string>& overrides) {
  if (!json.is_object()) wrong_type("the config", json, "an object (e.g. {\"layout\": {\"tp\": 2}})");
  nlohmann::json merged = json;
  for (const std::string& o : overrides) apply_override(merged, o);
  TrainConfig config;
  read_section(config, "", merged);
  validate(config);
  return config;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot read config file '", path, "': ", std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    TRIDENT_FAIL("config file '", path, "' is not valid JSON: ", e.what());
  }
  try {
    return parse_train_config(json, overrides);
  } catch (const Error& e) {
    TRIDENT_FAIL("config file '", path, "': ", bare(e));
  }
}

void validate(const TrainConfig& c) {
  check_sizes(c);
  c.model.validate();  // its messages name model.<field>
  check_optimizer(c.optimizer);
  const LayoutConfig& l = c.layout;
  prefixed("layout.order", [&] { MeshLayout(l.dp, l.pp, l.tp, l.order); });
  prefixed("layout.recompute", [&] { (void)parse_recompute(l.recompute); });
  prefixed("device", [&] { (void)Device::parse(c.device); });
  const bool on_gpu = Device::parse(c.device).is_cuda();
  TRIDENT_CHECK(c.precision == "auto" || c.precision == "f32" || c.precision == "bf16", "precision is '", c.precision,
                "': use auto (bf16 on cuda, f32 on cpu), f32 or bf16");
  TRIDENT_CHECK(c.precision != "bf16" || on_gpu, "precision bf16 needs device cuda: the CPU op table computes in ",
                "f32 (set precision to f32 or auto, or device to cuda)");
  TRIDENT_CHECK(c.comm == "auto" || c.comm == "mpi" || c.comm == "nccl", "comm is '", c.comm,
                "': use auto (nccl on cuda when every rank has its own GPU, else mpi), mpi or nccl");
  TRIDENT_CHECK(c.comm != "nccl" || on_gpu, "comm nccl needs device cuda: NCCL moves GPU memory (set comm to mpi ",
                "or auto, or device to cuda)");
  TRIDENT_CHECK(c.model.heads % l.tp == 0, "model.heads ", c.model.heads, " is not divisible by layout.tp ", l.tp,
                ": each TP rank holds heads/tp whole attention heads; use a layout.tp among ",
                divisors(c.model.heads), ", or change model.heads");
  const std::int64_t tokens = static_cast<std::int64_t>(l.micro_batch_size) * c.model.seq_len;
  TRIDENT_CHECK(!l.sequence_parallel || tokens % l.tp == 0, "layout.sequence_parallel splits a micro-batch's ",
                "micro_batch_size·seq_len = ", l.micro_batch_size, "·", c.model.seq_len, " = ", tokens,
                " tokens over layout.tp ", l.tp, ", which does not divide them: change layout.micro_batch_size or ",
                "model.seq_len, or set layout.sequence_parallel to false");
  check_layers(c, check_schedule(l));
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
