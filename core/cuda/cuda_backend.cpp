#include "core/cuda/cuda_backend.h"

#include <array>
#include <memory>
#include <mutex>

#include "core/cuda/cuda_allocator.h"
#include "core/cuda/cuda_ops.h"
#include "core/cuda_probe.h"
#include "core/error.h"

namespace trident {

namespace {
constexpr int kMaxDevices = 64;

void check_device(int device) {
  const CudaProbe& probe = cuda_probe();
  TRIDENT_CHECK(probe.available, "cuda:", device, " requested, but ", probe.reason,
                " (run on a GPU machine, or set device to \"cpu\")");
  TRIDENT_CHECK(device >= 0 && device < probe.device_count && device < kMaxDevices, "cuda:", device,
                " does not exist: this machine has ", probe.device_count, " CUDA device(s)");
}

// Lazily built per-device singletons; they live until process exit.
template <typename T>
T& per_device(int device) {
  static std::array<std::unique_ptr<T>, kMaxDevices> slots;
  static std::mutex mutex;
  check_device(device);
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = slots[static_cast<std::size_t>(device)];
  if (!slot) slot = std::make_unique<T>(device);
  return *slot;
}
}  // namespace

const Ops& cuda_ops(int device) { return per_device<CudaOps>(device); }
Allocator& cuda_allocator(int device) { return per_device<CudaCachingAllocator>(device); }

}  // namespace trident
