#include "schedules/action.h"

#include <array>
#include <charconv>

#include "core/error.h"

namespace trident {

namespace {
constexpr std::array<std::string_view, 8> kNames = {"F", "B", "I", "W", "SEND_F", "RECV_F", "SEND_B", "RECV_B"};

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
}
}  // namespace

std::string_view action_type_name(ActionType t) { return kNames[static_cast<std::size_t>(t)]; }

std::string Action::str() const {
  return std::string(action_type_name(type)) + std::to_string(mb) + "." + std::to_string(chunk);
}

Action parse_action(std::string_view token) {
  // Longest names first, so "SEND_F" is not read as "S…".
  for (int i = 7; i >= 0; --i) {
    const std::string_view name = kNames[static_cast<std::size_t>(i)];
    if (!token.starts_with(name)) continue;
    const std::string_view rest = token.substr(name.size());
    const auto dot = rest.find('.');
    Action a{static_cast<ActionType>(i), 0, 0};
    if (dot != std::string_view::npos && parse_int(rest.substr(0, dot), a.mb) && parse_int(rest.substr(dot + 1), a.chunk))
      return a;
    break;
  }
  TRIDENT_FAIL("cannot read action '", token,
               "': write TYPE<micro-batch>.<chunk> with TYPE one of F, B, I, W, SEND_F, RECV_F, SEND_B, RECV_B "
               "(e.g. F0.0, I3.1)");
}

}  // namespace trident
