#include "core/allocator.h"

#include <malloc.h>  // mallopt (glibc)

#include <cstdlib>

#include "core/cpu/host_block_cache.h"
#include "core/error.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_backend.h"
#endif

namespace trident {

MemoryStats Allocator::stats() const {
  return {current_.load(std::memory_order_relaxed), peak_.load(std::memory_order_relaxed),
          num_allocs_.load(std::memory_order_relaxed)};
}

std::string_view memory_kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kWeights: return "weights";
    case MemoryKind::kGradients: return "gradients";
    case MemoryKind::kOptimizerState: return "optimizer_state";
    case MemoryKind::kCommBuffers: return "comm_buffers";
  }
  return "?";
}

std::int64_t MemoryByKind::labelled() const {
  std::int64_t sum = 0;
  for (std::int64_t b : bytes) sum += b;
  return sum;
}

void Allocator::reset_peak() {
  const std::int64_t now = current_.load(std::memory_order_relaxed);
  peak_.store(now);
  std::lock_guard<std::mutex> lock(labels_mutex_);
  at_peak_ = labels_;
  at_peak_bytes_ = now;
}

void Allocator::label(MemoryKind kind, std::int64_t bytes) {
  std::lock_guard<std::mutex> lock(labels_mutex_);
  labels_.bytes[static_cast<std::size_t>(kind)] += bytes;
}

MemoryByKind Allocator::labelled() const {
  std::lock_guard<std::mutex> lock(labels_mutex_);
  return labels_;
}

MemoryByKind Allocator::peak_breakdown() const {
  std::lock_guard<std::mutex> lock(labels_mutex_);
  return at_peak_;
}

void Allocator::record_alloc(std::size_t bytes) {
  const std::int64_t now = current_.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes);
  std::int64_t peak = peak_.load(std::memory_order_relaxed);
  bool new_peak = false;
  while (now > peak && !(new_peak = peak_.compare_exchange_weak(peak, now))) {
  }
  if (new_peak) {  // only while the peak grows: a lock per allocation that raises it
    std::lock_guard<std::mutex> lock(labels_mutex_);
    if (now >= at_peak_bytes_) at_peak_ = labels_, at_peak_bytes_ = now;
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
  // One arena: glibc gives each new thread its own arena, whose heaps are capped at 64 MiB, so a
  // block that size or larger is mmap'd and unmapped on every call whatever the threshold says.
  // Open MPI allocates its reduction scratch per call, so a 64 MiB all-reduce on a communication
  // thread paid for 64 MiB of fresh pages each time: 0.3 GB/s against 3.4 GB/s on the main thread
  // (2 ranks, this machine). trident's own hot path does not call malloc after the first step (the
  // block cache), so one arena costs it no lock contention.
  CpuAllocator() {
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  static std::size_t rounded(std::size_t bytes) { return (bytes + 63) / 64 * 64; }
  // Blocks come from and go back to the host block cache (core/cpu/host_block_cache.h): after the
  // first training step every allocation reuses a block of its size.
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = cpu::host_block_take(rounded(bytes));
    record_alloc(bytes);
    return p;
  }
  void deallocate(void* ptr, std::size_t bytes) override {
    if (!ptr) return;
    cpu::host_block_give(ptr, rounded(bytes));
    record_free(bytes);
  }
};

// Meta tensors (device.h): no storage, only the byte counts, so the peak of a step's allocations
// can be read off at any model size. Storage::data stays null; nothing may dereference it.
class MetaAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    record_alloc(bytes);
    return nullptr;
  }
  void deallocate(void*, std::size_t bytes) override { record_free(bytes); }
};

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    static CpuAllocator cpu;
    return cpu;
  }
  if (device.is_meta()) {
    static MetaAllocator meta;
    return meta;
  }
#ifdef TRIDENT_HAVE_CUDA
  return cuda_allocator(device.index);
#else
  TRIDENT_FAIL("no allocator for device ", device.str(),
               ": this is a CPU-only build (configure with -DTRIDENT_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

}  // namespace trident
