// Device tensors: host <-> GPU copies of every dtype, views and clones on the GPU, and the
// caching allocator's accounting as tensors come and go.
#include <gtest/gtest.h>

#include <cstring>

#include "core/allocator.h"
#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using gpu_test::gpu;

TEST(GpuTensor, RoundTripEveryDtype) {
  TRIDENT_REQUIRE_GPU();
  for (DType dt : {DType::kF32, DType::kBF16, DType::kI32}) {
    Tensor h = Tensor::empty({37, 5}, dt);
    auto* bytes = static_cast<unsigned char*>(h.raw());
    for (std::size_t i = 0; i < h.nbytes(); ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 3);
    const Tensor d = h.to(gpu());
    EXPECT_EQ(d.device(), gpu());
    const Tensor back = d.clone().to(Device::cpu());
    EXPECT_EQ(std::memcmp(back.raw(), h.raw(), h.nbytes()), 0) << dtype_name(dt);
  }
}

TEST(GpuTensor, SliceViewsShareDeviceStorage) {
  TRIDENT_REQUIRE_GPU();
  const Tensor h = gpu_test::random_host({8, 16}, 1);
  const Tensor d = h.to(gpu());
  const Tensor rows = d.slice0(2, 5);
  EXPECT_TRUE(rows.same_storage(d));
  ops_for(gpu()).fill(rows, 7.0f);
  const Tensor back = d.to(Device::cpu());
  for (std::int64_t r = 0; r < 8; ++r)
    for (std::int64_t c = 0; c < 16; ++c)
      EXPECT_EQ(back.data<float>()[r * 16 + c], r >= 2 && r < 5 ? 7.0f : h.data<float>()[r * 16 + c]);
}

TEST(GpuTensor, AllocatorCountsLiveBytesAndPeak) {
  TRIDENT_REQUIRE_GPU();
  Allocator& a = allocator_for(gpu());
  const MemoryStats before = a.stats();
  {
    const Tensor t = Tensor::empty({1 << 20}, DType::kF32, gpu());  // 4 MiB
    EXPECT_EQ(a.stats().current_bytes - before.current_bytes, 4 << 20);
    EXPECT_GE(a.stats().peak_bytes, before.current_bytes + (4 << 20));
  }
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
}

}  // namespace
}  // namespace trident
