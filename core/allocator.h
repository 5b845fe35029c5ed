// Device memory: every tensor's storage comes from its device's Allocator, which tracks current
// and peak bytes so experiments can report peak memory per rank. The CPU allocator hands out
// 64-byte aligned host memory; the CUDA backend's caching allocator serves cuda:N; the meta
// allocator hands out no memory and only counts bytes (every meta device shares it).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "core/device.h"

namespace trident {

// What a block of memory holds, for the breakdown of peak memory. The allocator cannot tell; the
// owner of the memory says (Allocator::label): data parallelism labels the model state and its
// communication buffers. Whatever is not labelled — activations, workspaces, pipeline buffers — is
// the rest of the peak.
enum class MemoryKind : std::uint8_t { kWeights, kGradients, kOptimizerState, kCommBuffers };
inline constexpr int kMemoryKinds = 4;
std::string_view memory_kind_name(MemoryKind kind);  // "weights", "gradients", "optimizer_state", "comm_buffers"

struct MemoryByKind {
  std::array<std::int64_t, kMemoryKinds> bytes{};  // by MemoryKind
  std::int64_t operator[](MemoryKind k) const { return bytes[static_cast<std::size_t>(k)]; }
  std::int64_t labelled() const;  // the sum
};

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

  // `bytes` of live memory now hold `kind` (negative: no longer). Label before allocating and
  // unlabel after freeing, so a peak reached by the allocation itself is attributed.
  void label(MemoryKind kind, std::int64_t bytes);
  MemoryByKind labelled() const;
  // What the labels held when current_bytes last reached peak_bytes (since reset_peak()).
  MemoryByKind peak_breakdown() const;

 protected:
  void record_alloc(std::size_t bytes);
  void record_free(std::size_t bytes);

 private:
  std::atomic<std::int64_t> current_{0};
  std::atomic<std::int64_t> peak_{0};
  std::atomic<std::int64_t> num_allocs_{0};
  mutable std::mutex labels_mutex_;  // labels_ and the snapshot at the peak
  MemoryByKind labels_, at_peak_;
  std::int64_t at_peak_bytes_ = 0;
};

// The allocator of a device: the host allocator, or the caching allocator of GPU N in a CUDA
// build (a clear error in a CPU-only build or when the GPU is missing).
Allocator& allocator_for(Device device);

}  // namespace trident
