// The caching allocator of one GPU: tensors on cuda:N get their storage here.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronises the whole device), and a training step
// frees and reallocates the same activation sizes every micro-batch, so freed blocks are kept in a
// cache and handed out again; after the first step a run makes no driver calls at all.
//
// Stream order — why a block freed on the host can be reused at once: every op runs on the
// device's one compute stream (CudaContext::compute_stream()). When the last Tensor handle to a
// block goes away, the kernels that read or write it may still be queued on that stream; the next
// owner of the block can only use it through kernels enqueued later on the same stream, which run
// after them. Communication streams keep this true by ordering themselves against the compute
// stream with events: a collective first waits for the compute stream (stream_wait) before it
// touches a tensor, and the compute stream waits for the collective before the tensor's last
// handle is dropped (the communicator keeps the tensor alive until then). Host reads of device
// memory go through CudaOps::copy, which synchronises.
//
// Sizes: requests up to 1 MiB are rounded up to 512 bytes, larger ones to 2 MiB. A cached block
// is handed out for a request when it is the smallest cached block that fits and at most twice
// the rounded request (best fit, bounded waste); blocks are never split. When cudaMalloc runs out
// of memory, the allocator synchronises the device, returns every cached block to the driver and
// retries once; a second failure throws trident::Error with the sizes involved and what to change.
//
// Accounting: MemoryStats (current/peak/num_allocs) count *requested* bytes, as the CPU allocator
// does, so peak memory means the same on both; reserved_bytes() is what the driver has given out
// (live blocks + cache, rounded). Thread-safe. Plain device memory only (no managed memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/allocator.h"

namespace trident {

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device);
  // Returns the cached blocks to the driver, quietly (process exit: the driver may be gone).
  ~CudaCachingAllocator() override;
  CudaCachingAllocator(const CudaCachingAllocator&) = delete;
  CudaCachingAllocator& operator=(const CudaCachingAllocator&) = delete;

  void* allocate(std::size_t bytes) override;             // nullptr for 0 bytes
  void deallocate(void* ptr, std::size_t bytes) override;  // the block goes to the cache

  int device() const { return device_; }
  std::int64_t reserved_bytes() const;      // held from the driver: live blocks + cache
  std::int64_t cached_bytes() const;        // held from the driver but free (in the cache)
  std::int64_t num_device_mallocs() const;  // cudaMalloc calls made so far
  // Synchronises the device and returns every cached block to the driver (live blocks stay).
  void empty_cache();

  // The block size a request of `bytes` is served with (512-byte or 2 MiB granularity).
  static std::size_t round_size(std::size_t bytes);

  static constexpr std::size_t kSmallLimit = std::size_t{1} << 20;   // up to here: small granule
  static constexpr std::size_t kSmallGranule = 512;
  static constexpr std::size_t kLargeGranule = std::size_t{2} << 20;

 private:
  void* device_malloc(std::size_t block_bytes, std::size_t requested);  // mutex held
  void release_cache();                                                 // mutex held

  int device_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_blocks_;  // block size -> block, best fit by lower_bound
  std::unordered_map<void*, std::size_t> live_blocks_;  // block -> its size
  std::int64_t reserved_ = 0;
  std::int64_t cached_ = 0;
  std::int64_t device_mallocs_ = 0;
};

}  // namespace trident
