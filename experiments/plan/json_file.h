// JSON that a person or an earlier run wrote, read so that every problem reaches the user as one
// line naming the file and the field as a JSON pointer (RFC 6901: "/optimizer/lr", "/files/0"),
// never as a bare library error or a crash:
//
//   - a path must name a regular file (a directory given as a file is said to be one);
//   - values nest at most kMaxJsonDepth levels: nlohmann's dump(), copies and comparisons recurse,
//     so a file of a million '[' would overflow the stack the first time an error message shows it;
//   - a syntax error (or a number too large for a double) names where it happened as a pointer as
//     well as a line and column;
//   - JsonFields reads typed fields, checking presence, type and range, and says what was found,
//     where, what is allowed, and (a caller-given sentence) how to fix it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace trident {

inline constexpr int kMaxJsonDepth = 64;
// Files read whole into memory by read_json_file (configs, manifests, cluster files, specs).
inline constexpr std::uintmax_t kMaxJsonFileBytes = 64ull << 20;

// Parses `text`; errors start with `source` ("config file 'run.json'"). Comments (// and /* */)
// are allowed when `comments`.
nlohmann::json parse_json(std::string_view text, const std::string& source, bool comments = false);
// `text` as JSON when it is JSON, else nullopt (a --set value that is a plain word); nesting deeper
// than kMaxJsonDepth still throws naming `source`.
std::optional<nlohmann::json> parse_json_if_valid(std::string_view text, const std::string& source);

// Reads and parses the file at `path`; `what` names its role in errors ("config file",
// "checkpoint manifest"): "config file 'x' is a directory: give a JSON file".
nlohmann::json read_json_file(const std::string& path, const std::string& what, bool comments = false);

// RFC 6901 pointer of a dotted key path: "layout.tp" -> "/layout/tp",
// "layout.layers_per_chunk[2]" -> "/layout/layers_per_chunk/2".
std::string json_pointer_of(std::string_view dotted);
// Appends one reference token, escaped ("~" -> "~0", "/" -> "~1").
std::string json_pointer_append(const std::string& pointer, std::string_view token);

// The first place where `a` and `b` differ (depth first; object keys in a's order, then the keys
// only b has). `pointer` is "/" when the values differ as a whole.
struct JsonDifference {
  bool equal = true;
  std::string pointer;           // where they first differ
  std::string a_value, b_value;  // the two values there, shortened ("(absent)" when missing)
};
JsonDifference first_difference(const nlohmann::json& a, const nlohmann::json& b);

// A value shortened for a message: its JSON text, at most `max_chars` (then "...").
std::string json_shown(const nlohmann::json& value, std::size_t max_chars = 40);

// Typed reads of an object's fields. Every error is
//   "<source>: <pointer> <problem>: <allowed>; <fix>"
// e.g. "checkpoint 'ck/step_4' (trainer.json): /step is -3: use an integer in [0, 9223372036854775807];
// the manifest is damaged or not trident's: resume from another checkpoint".
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string source, std::string fix = "", std::string pointer = "");

  bool contains(std::string_view key) const;
  const nlohmann::json& at(std::string_view key) const;  // present (any type)
  std::int64_t integer(std::string_view key, std::int64_t lo, std::int64_t hi) const;
  std::uint64_t unsigned_integer(std::string_view key, std::uint64_t hi) const;
  double number(std::string_view key, double lo, double hi) const;  // finite, in [lo, hi]
  std::string string(std::string_view key) const;
  JsonFields object(std::string_view key) const;  // a sub-object, errors pointing below it

  const nlohmann::json& json() const { return object_; }
  const std::string& pointer() const { return pointer_; }
  std::string pointer_of(std::string_view key) const { return json_pointer_append(pointer_, key); }
  // Throws "<source>: <pointer of key> <problem>; <fix>".
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const;

 private:
  const nlohmann::json& object_;
  std::string source_, fix_, pointer_;
};

}  // namespace trident
