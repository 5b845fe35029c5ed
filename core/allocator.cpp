#include "core/allocator.h"

#include <malloc.h>  // mallopt (glibc)

#include <cstdlib>

#include "core/error.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_backend.h"
#endif

namespace trident {

MemoryStats Allocator::stats() const {
  return {current_.load(std::memory_order_relaxed), peak_.load(std::memory_order_relaxed),
          num_allocs_.load(std::memory_order_relaxed)};
}

void Allocator::reset_peak() { peak_.store(current_.load(std::memory_order_relaxed)); }

void Allocator::record_alloc(std::size_t bytes) {
  const std::int64_t now = current_.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes);
  std::int64_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
  num_allocs_.fetch_add(1, std::memory_order_relaxed);
}

void Allocator::record_free(std::size_t bytes) { current_.fetch_sub(static_cast<std::int64_t>(bytes)); }

namespace {

// Host memory, 64-byte aligned (a cache line; what AVX-512 loads like). Zero-byte tensors get a
// null pointer and cost nothing.
class CpuAllocator final : public Allocator {
 public:
  // glibc serves blocks over M_MMAP_THRESHOLD (128 KiB to 32 MiB, adaptive) with mmap and unmaps
  // them on free, and trims the heap top back to the kernel past M_TRIM_THRESHOLD. A training step
  // frees and reallocates the same multi-MiB activations every step, so each step paid 10-20 ms of
  // page faults re-touching fresh pages. Keeping them in the heap lets the next step reuse warm
  // pages; the memory stays counted in MemoryStats only while a tensor holds it.
  CpuAllocator() {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    TRIDENT_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
    record_alloc(bytes);
    return p;
  }
  void deallocate(void* ptr, std::size_t bytes) override {
    if (!ptr) return;
    std::free(ptr);
    record_free(bytes);
  }
};


}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    static CpuAllocator cpu;
    return cpu;
  }
#ifdef TRIDENT_HAVE_CUDA
  return cuda_allocator(device.index);
#else
  TRIDENT_FAIL("no allocator for device ", device.str(),
               ": this is a CPU-only build (configure with -DTRIDENT_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

}  // namespace trident
