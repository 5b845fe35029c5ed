// The invariant trident's correctness rests on: a shard initialises to exactly the slice of the
// full tensor, for any split the layers use.
#include <gtest/gtest.h>

#include "core/shard_spec.h"

namespace trident {
namespace {

constexpr std::uint64_t kSeed = 42;

Tensor full_init(const Shape& shape, const char* name) {
  Tensor full = Tensor::empty(shape);
  init_normal(full, ShardSpec(shape), kSeed, name, 0.0f, 0.02f);
  return full;
}

void expect_equal(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << "element " << i;
}

TEST(ShardSpec, WholeTensorIsIdentity) {
  ShardSpec s({3, 4});
  EXPECT_TRUE(s.is_whole());
  const auto idx = s.full_indices();
  for (std::size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(idx[i], static_cast<std::int64_t>(i));
}

TEST(ShardSpec, RowAndColumnSplitsInitialiseToSlices) {
  const Shape shape{8, 12};
  Tensor full = full_init(shape, "w");
  for (int parts : {1, 2, 4}) {
    for (int r = 0; r < parts; ++r) {
      for (int dim : {0, 1}) {
        ShardSpec spec(shape);
        spec.split(dim, parts, r);
        Tensor shard = Tensor::empty(spec.local_shape());
        init_normal(shard, spec, kSeed, "w", 0.0f, 0.02f);
        expect_equal(shard, extract_shard(full, spec));
        // Check the slice by hand, not only through extract_shard.
        const std::int64_t rows = spec.local_shape()[0], cols = spec.local_shape()[1];
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t j = 0; j < cols; ++j) {
            const std::int64_t fi = dim == 0 ? r * rows + i : i, fj = dim == 1 ? r * cols + j : j;
            ASSERT_EQ(shard.data<float>()[i * cols + j], full.data<float>()[fi * 12 + fj]);
          }
      }
    }
  }
}

TEST(ShardSpec, FusedQkvBlocksSplitPerBlock) {
  // c_attn.weight [h, 3h]: rank r of tp holds columns of q, k and v heads r*h/tp .. (r+1)*h/tp.
  const std::int64_t h = 8, tp = 4;
  const Shape shape{h, 3 * h};
  Tensor full = full_init(shape, "c_attn");
  for (std::int64_t r = 0; r < tp; ++r) {
    ShardSpec spec(shape);
    spec.split_blocks(1, 3, tp, r);
    ASSERT_EQ(spec.ranges(1).size(), 3u);
    for (std::int64_t b = 0; b < 3; ++b) {
      EXPECT_EQ(spec.ranges(1)[static_cast<std::size_t>(b)].begin, b * h + r * (h / tp));
      EXPECT_EQ(spec.ranges(1)[static_cast<std::size_t>(b)].length, h / tp);
    }
    Tensor shard = Tensor::empty(spec.local_shape());
    init_normal(shard, spec, kSeed, "c_attn", 0.0f, 0.02f);
    expect_equal(shard, extract_shard(full, spec));
  }
}

TEST(ShardSpec, SplitsCompose) {
  // A 2-D split (rows by 2, then columns by 3) equals the same slice taken from the full tensor.
  const Shape shape{4, 6, 5};
  Tensor full = full_init(shape, "t");
  ShardSpec spec(shape);
  spec.split(0, 2, 1).split(1, 3, 2);
  EXPECT_EQ(spec.local_shape(), Shape({2, 2, 5}));
  Tensor shard = Tensor::empty(spec.local_shape());
  init_normal(shard, spec, kSeed, "t", 0.0f, 0.02f);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j)
      for (std::int64_t k = 0; k < 5; ++k)
        ASSERT_EQ(shard.data<float>()[(i * 2 + j) * 5 + k], full.data<float>()[((2 + i) * 6 + (4 + j)) * 5 + k]);
}

TEST(ShardSpec, InsertInvertsExtract) {
  const Shape shape{6, 9};
  Tensor full = full_init(shape, "x");
  Tensor rebuilt = Tensor::zeros(shape);
  for (int r = 0; r < 3; ++r) {
    ShardSpec spec(shape);
    spec.split_blocks(1, 3, 3, r);
    insert_shard(rebuilt, extract_shard(full, spec), spec);
  }
  expect_equal(rebuilt, full);
}

TEST(ShardSpec, UnevenSplitIsAnError) {
  ShardSpec spec({7, 4});
  EXPECT_THROW(spec.split(0, 2, 0), Error);
  EXPECT_THROW(spec.split(2, 2, 0), Error);
  EXPECT_THROW(spec.split(1, 2, 2), Error);
  Tensor wrong = Tensor::empty({3, 4});
  EXPECT_THROW(init_normal(wrong, ShardSpec({7, 4}), 1, "w", 0, 1), Error);
}

TEST(ShardSpec, DifferentNamesGiveDifferentValues) {
  Tensor a = full_init({16}, "a"), b = full_init({16}, "b");
  int same = 0;
  for (int i = 0; i < 16; ++i) same += a.data<float>()[i] == b.data<float>()[i];
  EXPECT_EQ(same, 0);
}

}  // namespace
}  // namespace trident
