// Device memory: every tensor's storage comes from its device's Allocator, which tracks current
// and peak bytes so experiments can report peak memory per rank. The CPU allocator hands out
// 64-byte aligned host memory; the CUDA backend registers its caching allocator for cuda:N.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace trident {

struct MemoryStats {
  std::int64_t current_bytes = 0;  // bytes held by live tensors now
  std::int64_t peak_bytes = 0;     // maximum of current_bytes since the last reset_peak()
  std::int64_t num_allocs = 0;     // allocations served since start
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;

  MemoryStats stats() const;
  void reset_peak();

 protected:
  void record_alloc(std::size_t bytes);
  void record_free(std::size_t bytes);

 private:
  std::atomic<std::int64_t> current_{0};
  std::atomic<std::int64_t> peak_{0};
  std::atomic<std::int64_t> num_allocs_{0};
};

// The allocator of a device. CPU is always present; CUDA devices are available once the CUDA
// backend has registered itself (a clear error otherwise).
Allocator& allocator_for(Device device);

// Used by a device backend at start-up to serve allocator_for(); the backend owns the allocator.
void register_allocator(DeviceType type, Allocator* allocator);

}  // namespace trident
