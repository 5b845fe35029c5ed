// Device memory: every tensor's storage comes from its device's Allocator, which tracks current
// and peak bytes so experiments can report peak memory per rank. The CPU allocator hands out
// 64-byte aligned host memory; the CUDA backend's caching allocator serves cuda:N.
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

// The allocator of a device: the host allocator, or the caching allocator of GPU N in a CUDA
// build (a clear error in a CPU-only build or when the GPU is missing).
Allocator& allocator_for(Device device);

}  // namespace trident
