// Errors: one exception type for the whole framework, thrown with a message that names what was
// wrong and how to fix it. Entry points (CLI, test mains) catch it, print it and exit non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace trident {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error's message without the "file.cpp:123: " location TRIDENT_CHECK puts in front: what a
// user reads, or what follows another message's own field name.
std::string message_of(const std::exception& e);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace trident

// TRIDENT_CHECK(cond, "what", value, "fix") throws trident::Error("file:line: what value fix").
#define TRIDENT_CHECK(cond, ...)                                                            \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      ::trident::detail::throw_error(__FILE__, __LINE__, ::trident::detail::concat(__VA_ARGS__)); \
  } while (0)

#define TRIDENT_FAIL(...) \
  ::trident::detail::throw_error(__FILE__, __LINE__, ::trident::detail::concat(__VA_ARGS__))
