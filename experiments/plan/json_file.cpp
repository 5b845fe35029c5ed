#include "experiments/plan/json_file.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace trident {

namespace {

using json = nlohmann::json;

// Where the parser is: one frame per open object or array, so an error can name the field as a
// pointer. Objects remember their current key; arrays count the elements already complete.
struct Frame {
  bool array = false;
  std::string key;
  std::int64_t index = 0;
};

std::string pointer_of(const std::vector<Frame>& frames, std::size_t max_tokens = 12) {
  std::string p;
  for (std::size_t i = 0; i < frames.size() && i < max_tokens; ++i)
    p = json_pointer_append(p, frames[i].array ? std::to_string(frames[i].index) : frames[i].key);
  if (frames.size() > max_tokens) p += "/...";
  return p.empty() ? "/" : p;
}

// nlohmann's what(): "[json.exception.parse_error.101] parse error at line 1, column 5: ...":
// the bracketed id means nothing to a user.
std::string without_id(const char* what) {
  const std::string m = what;
  const auto close = m.find("] ");
  return m.starts_with("[json.exception.") && close != std::string::npos ? m.substr(close + 2) : m;
}

}  // namespace

std::string json_pointer_append(const std::string& pointer, std::string_view token) {
  std::string out = pointer + "/";
  for (const char ch : token) {
    if (ch == '~') out += "~0";
    else if (ch == '/') out += "~1";
    else out += ch;
  }
  return out;
}

std::string json_pointer_of(std::string_view dotted) {
  std::string out;
  std::string token;
  auto flush = [&] {
    if (!token.empty()) out = json_pointer_append(out, token);
    token.clear();
  };
  for (const char ch : dotted) {
    if (ch == '.' || ch == '[') flush();
    else if (ch != ']') token += ch;
  }
  flush();
  return out;
}

std::string json_shown(const json& value, std::size_t max_chars) {
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() <= max_chars) return text;
  // Both ends: paths and long strings usually differ at their end.
  const std::size_t head = (max_chars - 3) / 3, tail = max_chars - 3 - head;
  return text.substr(0, head) + "..." + text.substr(text.size() - tail);
}

namespace {

// json::parse with the depth limit and the pointer of a syntax error. Invalid JSON throws, or gives
// nullopt when `invalid_is_nullopt`; too deep a nesting always throws.
std::optional<json> parse_tracked(std::string_view text, const std::string& source, bool comments,
                                  bool invalid_is_nullopt) {
  std::vector<Frame> frames;
  const json::parser_callback_t track = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (static_cast<int>(frames.size()) >= kMaxJsonDepth)
          TRIDENT_FAIL(source, " nests values deeper than ", kMaxJsonDepth, " levels (at ", pointer_of(frames),
                       "): no trident file needs more than a few; the file is damaged or not meant for trident");
        frames.push_back({event == json::parse_event_t::array_start, "", 0});
        break;
      case json::parse_event_t::key:
        if (!frames.empty() && parsed.is_string()) frames.back().key = parsed.get<std::string>();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames.empty()) frames.pop_back();
        if (!frames.empty() && frames.back().array) ++frames.back().index;
        break;
      case json::parse_event_t::value:
        if (!frames.empty() && frames.back().array) ++frames.back().index;
        break;
    }
    return true;
  };
  try {
    return json::parse(text, track, /*allow_exceptions=*/true, comments);
  } catch (const json::exception& e) {
    if (invalid_is_nullopt) return std::nullopt;
    TRIDENT_FAIL(source, " is not valid JSON at ", pointer_of(frames), ": ", without_id(e.what()));
  }
}

}  // namespace

json parse_json(std::string_view text, const std::string& source, bool comments) {
  return *parse_tracked(text, source, comments, /*invalid_is_nullopt=*/false);
}

std::optional<json> parse_json_if_valid(std::string_view text, const std::string& source) {
  return parse_tracked(text, source, /*comments=*/false, /*invalid_is_nullopt=*/true);
}

json read_json_file(const std::string& path, const std::string& what, bool comments) {
  namespace fs = std::filesystem;
  const std::string source = what + " '" + path + "'";
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  TRIDENT_CHECK(fs::exists(status), source, " does not exist: give the path of a JSON file");
  TRIDENT_CHECK(!fs::is_directory(status), source, " is a directory: give the path of a JSON file inside it");
  TRIDENT_CHECK(fs::is_regular_file(status), source, " is not a regular file: give the path of a JSON file");
  const std::uintmax_t bytes = fs::file_size(path, ec);
  TRIDENT_CHECK(!ec && bytes <= kMaxJsonFileBytes, source, " holds ", bytes, " bytes, more than the ",
                kMaxJsonFileBytes >> 20, " MiB a JSON file of trident may have: is it the right file?");
  std::ifstream in(path, std::ios::binary);
  TRIDENT_CHECK(in.good(), "cannot read ", source, ": ", std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  TRIDENT_CHECK(!in.bad(), "cannot read ", source, ": ", std::strerror(errno));
  return parse_json(text.str(), source, comments);
}

JsonDifference first_difference(const json& a, const json& b) {
  JsonDifference d;
  std::vector<std::pair<std::string, std::pair<const json*, const json*>>> todo = {{"", {&a, &b}}};
  static const json kAbsent = "(absent)";
  while (!todo.empty()) {
    auto [pointer, pair] = todo.back();
    todo.pop_back();
    const auto [x, y] = pair;
    const bool objects = x->is_object() && y->is_object(), arrays = x->is_array() && y->is_array();
    if (objects) {
      // Visit in reverse so the first key of `a` is compared first (the stack is LIFO).
      std::vector<std::pair<std::string, std::pair<const json*, const json*>>> children;
      for (const auto& [key, value] : x->items())
        children.push_back({json_pointer_append(pointer, key), {&value, y->contains(key) ? &(*y)[key] : &kAbsent}});
      for (const auto& [key, value] : y->items())
        if (!x->contains(key)) children.push_back({json_pointer_append(pointer, key), {&kAbsent, &value}});
      todo.insert(todo.end(), children.rbegin(), children.rend());
      continue;
    }
    if (arrays && x->size() == y->size()) {
      for (std::size_t i = x->size(); i-- > 0;)
        todo.push_back({json_pointer_append(pointer, std::to_string(i)), {&(*x)[i], &(*y)[i]}});
      continue;
    }
    if (*x == *y) continue;
    return {false, pointer.empty() ? "/" : pointer, json_shown(*x, 80), json_shown(*y, 80)};
  }
  return d;
}

// ---- JsonFields ---------------------------------------------------------------------------------

JsonFields::JsonFields(const nlohmann::json& object, std::string source, std::string fix, std::string pointer)
    : object_(object), source_(std::move(source)), fix_(std::move(fix)), pointer_(std::move(pointer)) {
  if (!object_.is_object())
    TRIDENT_FAIL(source_, ": ", pointer_.empty() ? "/" : pointer_, " is ", json_shown(object_),
                 ": it must be an object", fix_.empty() ? "" : "; " + fix_);
}

void JsonFields::fail(std::string_view key, const std::string& problem) const {
  TRIDENT_FAIL(source_, ": ", pointer_of(key), " ", problem, fix_.empty() ? "" : "; " + fix_);
}

bool JsonFields::contains(std::string_view key) const { return object_.contains(key); }

const nlohmann::json& JsonFields::at(std::string_view key) const {
  const auto it = object_.find(key);
  if (it == object_.end()) fail(key, "is missing");
  return *it;
}

std::int64_t JsonFields::integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
  const nlohmann::json& v = at(key);
  // nlohmann stores non-negative literals as unsigned: compare those without a signed overflow.
  const bool fits = v.is_number_integer() &&
                    (v.is_number_unsigned() ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi) &&
                                                  (lo <= 0 || v.get<std::uint64_t>() >= static_cast<std::uint64_t>(lo))
                                            : v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi);
  if (!fits)
    fail(key, detail::concat("is ", json_shown(v), ": it must be an integer in [", lo, ", ", hi, "]"));
  return v.get<std::int64_t>();
}

std::uint64_t JsonFields::unsigned_integer(std::string_view key, std::uint64_t hi) const {
  const nlohmann::json& v = at(key);
  const bool non_negative = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  if (!non_negative || v.get<std::uint64_t>() > hi)
    fail(key, detail::concat("is ", json_shown(v), ": it must be an integer in [0, ", hi, "]"));
  return v.get<std::uint64_t>();
}

double JsonFields::number(std::string_view key, double lo, double hi) const {
  const nlohmann::json& v = at(key);
  const double x = v.is_number() ? v.get<double>() : std::nan("");
  if (!std::isfinite(x) || x < lo || x > hi)
    fail(key, detail::concat("is ", json_shown(v), ": it must be a number in [", lo, ", ", hi, "]"));
  return x;
}

std::string JsonFields::string(std::string_view key) const {
  const nlohmann::json& v = at(key);
  if (!v.is_string()) fail(key, "is " + json_shown(v) + ": it must be a string");
  return v.get<std::string>();
}

JsonFields JsonFields::object(std::string_view key) const {
  const nlohmann::json& v = at(key);
  if (!v.is_object()) fail(key, "is " + json_shown(v) + ": it must be an object");
  return JsonFields(v, source_, fix_, pointer_of(key));
}

}  // namespace trident
