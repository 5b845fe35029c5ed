#include "core/error.h"

#include <cstring>

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
