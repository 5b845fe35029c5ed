#include "core/cuda/cuda_backend.h"

#include <array>
#include <memory>
#include <mutex>

#include "core/cuda/cuda_allocator.h"
#include "core/cuda/cuda_context.h"
#include "core/cuda/cuda_ops.h"
#include "core/error.h"

namespace trident {

namespace {
constexpr int kMaxDevices = 64;

// Lazily built per-device singletons; they live until process exit. CudaContext::get checks that
// the GPU exists and is usable, with the message users see.
template <typename T>
T& per_device(int device) {
  static std::array<std::unique_ptr<T>, kMaxDevices> slots;
  static std::mutex mutex;
  (void)CudaContext::get(device);
  TRIDENT_CHECK(device < kMaxDevices, "cuda:", device, ": trident supports GPU indices below ", kMaxDevices);
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = slots[static_cast<std::size_t>(device)];
  if (!slot) slot = std::make_unique<T>(device);
  return *slot;
}
}  // namespace

const Ops& cuda_ops(int device) { return per_device<CudaOps>(device); }
Allocator& cuda_allocator(int device) { return per_device<CudaCachingAllocator>(device); }

}  // namespace trident
