// The CUDA caching allocator: size rounding, reuse of cached blocks without new cudaMalloc calls,
// current/peak accounting in requested bytes, empty_cache, the out-of-memory message, concurrent
// use, and the stream-order reuse that lets a freed block be handed out at once.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/cuda_probe.h"
#include "core/error.h"
#include "tests/gpu/gpu_test_util.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_allocator.h"
#endif

namespace trident {
namespace {

using namespace gpu_test;

#ifdef TRIDENT_HAVE_CUDA

constexpr std::size_t kMiB = std::size_t{1} << 20;

CudaCachingAllocator& gpu_allocator() { return dynamic_cast<CudaCachingAllocator&>(allocator_for(gpu())); }

// Pure arithmetic: runs without a GPU too.
TEST(GpuAllocator, RoundsSmallTo512BytesAndLargeTo2MiB) {
  EXPECT_EQ(CudaCachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CudaCachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CudaCachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CudaCachingAllocator::round_size(kMiB), kMiB);
  EXPECT_EQ(CudaCachingAllocator::round_size(kMiB + 1), 2 * kMiB);
  EXPECT_EQ(CudaCachingAllocator::round_size(3 * kMiB), 4 * kMiB);
  EXPECT_EQ(CudaCachingAllocator::round_size(4 * kMiB), 4 * kMiB);
}

TEST(GpuAllocator, ZeroBytesIsNullAndFree) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  const MemoryStats before = a.stats();
  EXPECT_EQ(a.allocate(0), nullptr);
  a.deallocate(nullptr, 0);
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
  EXPECT_EQ(a.stats().num_allocs, before.num_allocs);
}

TEST(GpuAllocator, FreedBlocksAreReusedWithoutCudaMalloc) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  void* p = a.allocate(3 * kMiB);
  ASSERT_NE(p, nullptr);
  a.deallocate(p, 3 * kMiB);
  const std::int64_t mallocs = a.num_device_mallocs();
  for (int i = 0; i < 10; ++i) {
    void* q = a.allocate(3 * kMiB);
    a.deallocate(q, 3 * kMiB);
  }
  EXPECT_EQ(a.num_device_mallocs(), mallocs);

  // The same through tensors, as a training step allocates: no driver call after the first round.
  for (int step = 0; step < 3; ++step) {
    const std::int64_t at_start = a.num_device_mallocs();
    for (int i = 0; i < 5; ++i) {
      const Tensor x = Tensor::empty({4096, 257}, DType::kBF16, gpu());
      const Tensor y = Tensor::zeros({17}, DType::kF32, gpu());
    }
    if (step > 0) {
      EXPECT_EQ(a.num_device_mallocs(), at_start) << "step " << step;
    }
  }
}

TEST(GpuAllocator, CountsRequestedBytesCurrentAndPeak) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  a.reset_peak();
  const MemoryStats before = a.stats();
  const std::int64_t reserved_before = a.reserved_bytes();
  void* p1 = a.allocate(1000);
  void* p2 = a.allocate(3 * kMiB + 7);
  void* p3 = a.allocate(1);
  const std::int64_t requested = 1000 + 3 * kMiB + 7 + 1;
  EXPECT_EQ(a.stats().current_bytes - before.current_bytes, requested);
  EXPECT_EQ(a.stats().peak_bytes, before.current_bytes + requested);
  EXPECT_EQ(a.stats().num_allocs - before.num_allocs, 3);
  // Reserved covers the rounded blocks (new or reused from the cache).
  EXPECT_GE(a.reserved_bytes() - a.cached_bytes(), static_cast<std::int64_t>(1024 + 4 * kMiB + 512));
  a.deallocate(p2, 3 * kMiB + 7);
  EXPECT_EQ(a.stats().current_bytes - before.current_bytes, 1000 + 1);
  EXPECT_EQ(a.stats().peak_bytes, before.current_bytes + requested);  // the peak stays
  a.deallocate(p1, 1000);
  a.deallocate(p3, 1);
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
  EXPECT_GE(a.reserved_bytes(), reserved_before);  // freeing keeps the memory cached
  a.reset_peak();
  EXPECT_EQ(a.stats().peak_bytes, before.current_bytes);
}

TEST(GpuAllocator, EmptyCacheReleasesCachedBlocksOnly) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  const Tensor live = Tensor::empty({1 << 20}, DType::kF32, gpu());  // 4 MiB, stays live
  gpu_ops().fill(live, 2.5f);
  {
    const Tensor dead = Tensor::empty({3 << 20}, DType::kF32, gpu());  // 12 MiB, goes to the cache
  }
  EXPECT_GE(a.cached_bytes(), static_cast<std::int64_t>(12 * kMiB));
  const std::int64_t reserved = a.reserved_bytes(), cached = a.cached_bytes();
  a.empty_cache();
  EXPECT_EQ(a.cached_bytes(), 0);
  EXPECT_EQ(a.reserved_bytes(), reserved - cached);
  EXPECT_GE(a.reserved_bytes(), static_cast<std::int64_t>(4 * kMiB));  // the live block is kept
  EXPECT_EQ(gpu_ops().sum(live), 2.5 * (1 << 20));                       // and still holds its data
  // The next allocation of the released size needs the driver again.
  const std::int64_t mallocs = a.num_device_mallocs();
  { const Tensor again = Tensor::empty({3 << 20}, DType::kF32, gpu()); }
  EXPECT_EQ(a.num_device_mallocs(), mallocs + 1);
}

TEST(GpuAllocator, BestFitWastesAtMostTwice) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  a.empty_cache();
  void* big = a.allocate(kMiB + 1);  // a 2 MiB block
  a.deallocate(big, kMiB + 1);
  const std::int64_t mallocs = a.num_device_mallocs();
  void* small = a.allocate(600 * 1024);  // 600 KiB: the 2 MiB block would waste more than half
  EXPECT_EQ(a.num_device_mallocs(), mallocs + 1);
  void* mid = a.allocate(3 * kMiB / 2);  // 1.5 MiB rounds to 2 MiB: reuses the cached block
  EXPECT_EQ(mid, big);
  EXPECT_EQ(a.num_device_mallocs(), mallocs + 1);
  a.deallocate(small, 600 * 1024);
  a.deallocate(mid, 3 * kMiB / 2);
}

TEST(GpuAllocator, OutOfMemoryNamesTheSizeAndWhatToChange) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  const MemoryStats before = a.stats();
  const std::size_t one_pib = std::size_t{1} << 50;
  try {
    (void)a.allocate(one_pib);
    ADD_FAILURE() << "allocating 1 PiB succeeded";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cuda:0 is out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("1125899906842624 bytes (1.0 PiB"), std::string::npos) << m;
    EXPECT_NE(m.find("Live tensors hold"), std::string::npos) << m;
    EXPECT_NE(m.find("bytes free"), std::string::npos) << m;
    EXPECT_NE(m.find("layout.micro_batch_size"), std::string::npos) << m;
    EXPECT_NE(m.find("layout.recompute"), std::string::npos) << m;
  }
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
  EXPECT_EQ(a.cached_bytes(), 0);  // the retry returned the cache to the driver
  // The failed cudaMalloc left no error behind for the next kernel's launch check.
  const Tensor x = Tensor::empty({1000}, DType::kF32, gpu());
  gpu_ops().fill(x, 1.0f);
  EXPECT_EQ(gpu_ops().sum(x), 1000.0);
}

TEST(GpuAllocator, FreedBlockIsReusableAtOnceInStreamOrder) {
  TRIDENT_REQUIRE_GPU();
  // The first tensor's fill may still be queued when its block is handed to the second tensor;
  // the second fill runs after it on the same stream, so the second value wins.
  void* first_block = nullptr;
  {
    const Tensor a = Tensor::empty({1 << 22}, DType::kF32, gpu());
    first_block = a.raw();
    gpu_ops().fill(a, 1.0f);
  }
  const Tensor b = Tensor::empty({1 << 22}, DType::kF32, gpu());
  EXPECT_EQ(b.raw(), first_block);
  gpu_ops().fill(b, 2.0f);
  EXPECT_EQ(gpu_ops().sum(b), 2.0 * (1 << 22));
}

TEST(GpuAllocator, ConcurrentAllocateAndFree) {
  TRIDENT_REQUIRE_GPU();
  CudaCachingAllocator& a = gpu_allocator();
  const MemoryStats before = a.stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&a, t] {
      std::vector<std::pair<void*, std::size_t>> held;
      for (int i = 0; i < 500; ++i) {
        const std::size_t bytes = static_cast<std::size_t>((i * 7919 + t * 104729) % (3 * kMiB)) + 1;
        held.emplace_back(a.allocate(bytes), bytes);
        if (held.size() > 8) {
          a.deallocate(held.front().first, held.front().second);
          held.erase(held.begin());
        }
      }
      for (const auto& [p, bytes] : held) a.deallocate(p, bytes);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
  EXPECT_EQ(a.stats().num_allocs - before.num_allocs, 4 * 500);
}

TEST(GpuAllocator, MissingDeviceIsAClearError) {
  TRIDENT_REQUIRE_GPU();
  const int count = cuda_probe().device_count;
  expect_error([&] { (void)Tensor::empty({4}, DType::kF32, Device::cuda(count)); }, "does not exist");
}

#else

TEST(GpuAllocator, NeedsACudaBuild) { TRIDENT_REQUIRE_GPU(); }

#endif

}  // namespace
}  // namespace trident
