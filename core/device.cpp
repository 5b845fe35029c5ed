#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace trident {

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.starts_with("cuda:")) {
    std::string_view num = text.substr(5);
    int index = -1;
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), index);
    if (ec == std::errc() && ptr == num.data() + num.size() && index >= 0) return cuda(index);
  }
  TRIDENT_FAIL("unknown device '", text, "': use 'cpu', 'cuda' or 'cuda:N' with N >= 0");
}

std::string Device::str() const {
  if (is_meta()) return modelled() == DeviceType::kCUDA ? "meta(cuda)" : "meta(cpu)";
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace trident
