// Where a tensor lives: the host ("cpu") or one GPU ("cuda:N"); or nowhere ("meta").
//
// A meta tensor has a shape, a dtype and a byte count but no storage: its allocator only counts
// bytes and its op table does no work (core/op_record.h). The simulator runs the real layer code on
// meta tensors to learn which ops a step executes and what it keeps, at any model size, without
// the device it models. `index` holds the modelled device type (kCPU or kCUDA), because a few
// answers depend on it (e.g. the shape attention saves for backward).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trident {

enum class DeviceType : std::uint8_t { kCPU, kCUDA, kMeta };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::kCPU, 0}; }
  static constexpr Device cuda(int i) { return {DeviceType::kCUDA, i}; }
  // No storage, standing in for a device of type `modelled` (kCPU or kCUDA).
  static constexpr Device meta(DeviceType modelled = DeviceType::kCPU) {
    return {DeviceType::kMeta, static_cast<int>(modelled)};
  }
  // "cpu", "cuda" (= cuda:0) or "cuda:N"; throws trident::Error for anything else.
  static Device parse(std::string_view text);

  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  bool is_meta() const { return type == DeviceType::kMeta; }
  // The device type a meta device stands in for; a real device's own type.
  DeviceType modelled() const { return is_meta() ? static_cast<DeviceType>(index) : type; }
  std::string str() const;
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace trident
