#include "schedules/action.h"

#include <array>
#include <charconv>

#include "core/error.h"

namespace trident {

namespace {
constexpr std::array<std::string_view, 9> kNames = {"F", "B", "I", "W", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "FB"};

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
}

[[noreturn]] void bad_token(std::string_view token) {
  TRIDENT_FAIL("cannot read action '", token,
               "': write TYPE<micro-batch>.<chunk> with TYPE one of F, B, I, W, SEND_F, RECV_F, SEND_B, RECV_B "
               "(e.g. F0.0, I3.1), or an overlapped forward and backward as F<mb>.<chunk>+B<mb>.<chunk> (e.g. F3.1+B0.2)");
}

// One single action (no '+'); false if the token is not one.
bool parse_single(std::string_view token, Action& out) {
  // Longest names first, so "SEND_F" is not read as "S…"; FB has no single-token form.
  for (int i = 7; i >= 0; --i) {
    const std::string_view name = kNames[static_cast<std::size_t>(i)];
    if (!token.starts_with(name)) continue;
    const std::string_view rest = token.substr(name.size());
    const auto dot = rest.find('.');
    out = Action{static_cast<ActionType>(i), 0, 0};
    return dot != std::string_view::npos && parse_int(rest.substr(0, dot), out.mb) &&
           parse_int(rest.substr(dot + 1), out.chunk);
  }
  return false;
}
}  // namespace

std::string_view action_type_name(ActionType t) { return kNames[static_cast<std::size_t>(t)]; }

std::string Action::str() const {
  if (type == ActionType::kFB)
    return "F" + std::to_string(mb) + "." + std::to_string(chunk) + "+B" + std::to_string(b_mb) + "." +
           std::to_string(b_chunk);
  return std::string(action_type_name(type)) + std::to_string(mb) + "." + std::to_string(chunk);
}

ActionParts parts(const Action& a) {
  if (a.type != ActionType::kFB) return {{a, Action{}}, 1};
  return {{F(a.mb, a.chunk), B(a.b_mb, a.b_chunk)}, 2};
}

Action parse_action(std::string_view token) {
  const auto plus = token.find('+');
  Action a;
  if (plus == std::string_view::npos) {
    if (!parse_single(token, a)) bad_token(token);
    return a;
  }
  Action f, b;
  if (!parse_single(token.substr(0, plus), f) || !parse_single(token.substr(plus + 1), b)) bad_token(token);
  TRIDENT_CHECK(f.type == ActionType::kF && b.type == ActionType::kB, "cannot read action '", token,
                "': an overlapped action pairs a forward and a full backward, F<mb>.<chunk>+B<mb>.<chunk> "
                "(e.g. F3.1+B0.2)");
  return FB(f.mb, f.chunk, b.mb, b.chunk);
}

}  // namespace trident
