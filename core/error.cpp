#include "core/error.h"

#include <algorithm>
#include <cstring>

namespace trident {

std::string message_of(const std::exception& e) {
  const std::string m = e.what();
  const auto sep = m.find(": ");
  if (sep == std::string::npos || sep == 0) return m;
  const auto colon = m.rfind(':', sep - 1);
  if (colon == std::string::npos || colon + 1 >= sep) return m;
  const std::string line = m.substr(colon + 1, sep - colon - 1);
  const bool located = std::all_of(line.begin(), line.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  return located ? m.substr(sep + 2) : m;
}

}  // namespace trident

namespace trident::detail {

void throw_error(const char* file, int line, const std::string& message) {
  // Keep only the path below the source root so messages stay short and stable.
  const char* base = std::strstr(file, "/core/");
  if (!base) base = std::strstr(file, "/parallel/");
  if (!base) base = std::strstr(file, "/layers/");
  if (!base) base = std::strstr(file, "/schedules/");
  if (!base) base = std::strstr(file, "/experiments/");
  std::ostringstream os;  // (not string operator+: GCC 12 warns falsely on it with -O3, -Wrestrict)
  os << (base ? base + 1 : file) << ':' << line << ": " << message;
  throw Error(os.str());
}

}  // namespace trident::detail
