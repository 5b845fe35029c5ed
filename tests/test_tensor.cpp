// Tensor handles, views along dim 0, reshapes, copies and the allocator's byte accounting.
#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace trident {
namespace {

TEST(Tensor, EmptyHasShapeDtypeDevice) {
  Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, ZerosAreZero) {
  Tensor t = Tensor::zeros({5, 7});
  for (std::int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  Tensor ids = Tensor::zeros({3}, DType::kI32);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ids.data<std::int32_t>()[i], 0);
}

TEST(Tensor, DataChecksDtype) {
  Tensor t = Tensor::empty({2}, DType::kI32);
  EXPECT_THROW((void)t.data<float>(), Error);
}

TEST(Tensor, Slice0SharesStorageAndOffsets) {
  Tensor t = Tensor::empty({4, 3});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  Tensor s = t.slice0(1, 3);
  EXPECT_EQ(s.shape(), Shape({2, 3}));
  EXPECT_TRUE(s.same_storage(t));
  EXPECT_EQ(s.data<float>()[0], 3.0f);
  s.data<float>()[0] = -1.0f;  // writes through to the parent
  EXPECT_EQ(t.data<float>()[3], -1.0f);
  Tensor nested = s.slice0(1, 2);
  EXPECT_EQ(nested.data<float>()[0], 6.0f);
  EXPECT_THROW((void)t.slice0(3, 5), Error);
  EXPECT_THROW((void)t.slice0(2, 1), Error);
}

TEST(Tensor, ViewReshapesAndInfers) {
  Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_EQ(t.view({6, 4}).shape(), Shape({6, 4}));
  EXPECT_EQ(t.view({-1, 12}).shape(), Shape({2, 12}));
  EXPECT_EQ(t.as_2d().shape(), Shape({6, 4}));
  EXPECT_THROW((void)t.view({5, 5}), Error);
  EXPECT_THROW((void)t.view({-1, -1}), Error);
  EXPECT_THROW((void)t.view({-1, 5}), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::zeros({3});
  Tensor c = t.clone();
  c.data<float>()[1] = 5.0f;
  EXPECT_EQ(t.data<float>()[1], 0.0f);
  EXPECT_FALSE(c.same_storage(t));
  Tensor same = t.to(Device::cpu());
  EXPECT_TRUE(same.same_storage(t));
  EXPECT_THROW(t.copy_from(Tensor::zeros({4})), Error);
}

TEST(Allocator, TracksCurrentAndPeakBytes) {
  Allocator& a = allocator_for(Device::cpu());
  const MemoryStats before = a.stats();
  a.reset_peak();
  {
    Tensor x = Tensor::empty({1024});  // 4 KiB
    {
      Tensor y = Tensor::empty({2048});  // 8 KiB
      EXPECT_EQ(a.stats().current_bytes, before.current_bytes + 4096 + 8192);
    }
    EXPECT_EQ(a.stats().current_bytes, before.current_bytes + 4096);
    Tensor view = x.slice0(0, 10);  // views allocate nothing
    EXPECT_EQ(a.stats().current_bytes, before.current_bytes + 4096);
  }
  EXPECT_EQ(a.stats().current_bytes, before.current_bytes);
  EXPECT_EQ(a.stats().peak_bytes, before.current_bytes + 4096 + 8192);
  EXPECT_GE(a.stats().num_allocs, before.num_allocs + 2);
}

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::cuda(3).str(), "cuda:3");
  EXPECT_THROW(Device::parse("gpu"), Error);
  EXPECT_THROW(Device::parse("cuda:-1"), Error);
  EXPECT_THROW(Device::parse("cuda:1x"), Error);
}

TEST(Device, CudaWithoutBackendIsAClearError) {
  // In a CPU-only process the CUDA table is absent; asking for it must name the device and the fix.
  try {
    (void)ops_for(Device::cuda(0));
    GTEST_SKIP() << "a CUDA op table is registered in this process";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(from_bf16(to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(from_bf16(to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 lies halfway between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1.
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1.0p-8f)), 1.0f);
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1.8p-8f)), 1.0f + 0x1.0p-7f);
  EXPECT_EQ(parse_dtype("bf16"), DType::kBF16);
  EXPECT_THROW(parse_dtype("f16"), Error);
}

}  // namespace
}  // namespace trident
