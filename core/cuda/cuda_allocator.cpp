#include "core/cuda/cuda_allocator.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/error.h"

namespace trident {

namespace {

// "1.5 GiB": sizes in the out-of-memory message, next to the exact byte counts.
std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 5) {
    bytes /= 1024.0;
    ++u;
  }
  std::ostringstream os;
  os << std::fixed << std::setprecision(u == 0 ? 0 : 1) << bytes << " " << units[u];
  return os.str();
}

}  // namespace

CudaCachingAllocator::CudaCachingAllocator(int device) : device_(device) {}

CudaCachingAllocator::~CudaCachingAllocator() {
  // Static destruction at process exit: the CUDA runtime may already be unloading, so errors are
  // ignored (the driver reclaims everything with the process anyway). No synchronisation: the
  // compute stream's context may be gone, and cudaFree waits for the device by itself. Blocks
  // still held by live tensors are left alone.
  cudaSetDevice(device_);
  for (const auto& [size, ptr] : free_blocks_) cudaFree(ptr);
  cudaGetLastError();  // leave no error behind for whatever else runs at exit
}

std::size_t CudaCachingAllocator::round_size(std::size_t bytes) {
  const std::size_t granule = bytes <= kSmallLimit ? kSmallGranule : kLargeGranule;
  TRIDENT_CHECK(bytes <= std::numeric_limits<std::size_t>::max() - granule, "CUDA allocator: a request of ", bytes,
                " bytes cannot be served (larger than any device memory)");
  return (bytes + granule - 1) / granule * granule;
}

void* CudaCachingAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t block = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  // Best fit: the smallest cached block >= the rounded request, if it is at most twice that size.
  auto it = free_blocks_.lower_bound(block);
  std::size_t size = block;
  if (it != free_blocks_.end() && it->first - block <= block) {
    size = it->first;
    ptr = it->second;
    free_blocks_.erase(it);
    cached_ -= static_cast<std::int64_t>(size);
  } else {
    ptr = device_malloc(block, bytes);
  }
  live_blocks_.emplace(ptr, size);
  record_alloc(bytes);
  return ptr;
}

void CudaCachingAllocator::deallocate(void* ptr, std::size_t bytes) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_blocks_.find(ptr);
  if (it == live_blocks_.end()) {
    // Called from Storage's destructor, where an exception would terminate anyway: say what broke.
    std::fprintf(stderr,
                 "trident: CUDA allocator of cuda:%d asked to free %p (%zu bytes), which it did not hand out "
                 "or already freed: a storage was freed twice or through the wrong device's allocator\n",
                 device_, ptr, bytes);
    std::abort();
  }
  // Stream order makes the block reusable at once (see the header): no event, no sync.
  free_blocks_.emplace(it->second, ptr);
  cached_ += static_cast<std::int64_t>(it->second);
  live_blocks_.erase(it);
  record_free(bytes);
}

void* CudaCachingAllocator::device_malloc(std::size_t block_bytes, std::size_t requested) {
  CudaDeviceGuard guard(device_);
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, block_bytes);
  std::int64_t released = 0;
  if (err == cudaErrorMemoryAllocation) {
    // Out of memory is not a sticky error, but the runtime keeps it as the last error, where the
    // next kernel's launch check would find it: clear it, give the cache back, try once more.
    cudaGetLastError();
    released = cached_;
    release_cache();
    err = cudaMalloc(&ptr, block_bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      std::size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) cudaGetLastError();
      const std::int64_t in_use = stats().current_bytes;
      TRIDENT_FAIL("cuda:", device_, " is out of memory: cannot allocate ", requested, " bytes (",
                   human_bytes(static_cast<double>(requested)), ", a block of ", block_bytes, " bytes). Live tensors hold ",
                   in_use, " bytes (", human_bytes(static_cast<double>(in_use)), "); the caching allocator holds ",
                   reserved_, " bytes from the driver after returning ", released,
                   " cached bytes and retrying; the device has ", free_bytes, " of ", total_bytes, " bytes free (",
                   human_bytes(static_cast<double>(free_bytes)), " of ", human_bytes(static_cast<double>(total_bytes)),
                   "). To fit: use a smaller layout.micro_batch_size, set layout.recompute to selective or full, "
                   "or spread the model over more pipeline (layout.pp) or tensor-parallel (layout.tp) ranks");
    }
  }
  TRIDENT_CUDA_CHECK(err);
  ++device_mallocs_;
  reserved_ += static_cast<std::int64_t>(block_bytes);
  return ptr;
}

void CudaCachingAllocator::release_cache() {
  if (free_blocks_.empty()) return;
  CudaDeviceGuard guard(device_);
  // A cached block may still be in use by kernels queued before its tensor died (stream order):
  // wait for the device before handing the memory back to the driver.
  TRIDENT_CUDA_CHECK(cudaDeviceSynchronize());
  while (!free_blocks_.empty()) {
    // Forget the block before freeing it, so a failing cudaFree cannot lead to a second one.
    const auto [size, ptr] = *free_blocks_.begin();
    free_blocks_.erase(free_blocks_.begin());
    cached_ -= static_cast<std::int64_t>(size);
    reserved_ -= static_cast<std::int64_t>(size);
    TRIDENT_CUDA_CHECK(cudaFree(ptr));
  }
}

void CudaCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cache();
}

std::int64_t CudaCachingAllocator::reserved_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reserved_;
}

std::int64_t CudaCachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

std::int64_t CudaCachingAllocator::num_device_mallocs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return device_mallocs_;
}

}  // namespace trident
