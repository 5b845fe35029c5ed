// Where a tensor lives: the host ("cpu") or one GPU ("cuda:N").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trident {

enum class DeviceType : std::uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::kCPU, 0}; }
  static constexpr Device cuda(int i) { return {DeviceType::kCUDA, i}; }
  // "cpu", "cuda" (= cuda:0) or "cuda:N"; throws trident::Error for anything else.
  static Device parse(std::string_view text);

  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  std::string str() const;
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace trident
