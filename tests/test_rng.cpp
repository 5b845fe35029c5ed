// Counter-based RNG: reproducible, stream-separated, and distributed as claimed.
#include <gtest/gtest.h>

#include <cmath>

#include "core/philox.h"
#include "core/rng.h"

namespace trident {
namespace {

TEST(Philox, MatchesPublishedKnownAnswers) {
  // Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
  Philox4x32 zero = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  Philox4x32 ones = philox4x32_10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  Philox4x32 pi = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Rng, SameInputsSameOutputs) {
  const std::uint64_t k = rng_key(1234, "h.0.attn.c_attn.weight");
  EXPECT_EQ(k, rng_key(1234, "h.0.attn.c_attn.weight"));
  EXPECT_EQ(rng_normal(k, 77), rng_normal(k, 77));
}

TEST(Rng, StreamsAndSeedsDiffer) {
  EXPECT_NE(rng_key(1, "wte"), rng_key(2, "wte"));
  EXPECT_NE(rng_key(1, "wte"), rng_key(1, "wpe"));
  EXPECT_NE(rng_key(1, "h.1.mlp.c_fc.weight"), rng_key(1, "h.10.mlp.c_fc.weight"));
}

TEST(Rng, NormalHasUnitMomentsAndUniformIsInRange) {
  const std::uint64_t k = rng_key(7, "moments");
  const int n = 200000;
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng_normal(k, static_cast<std::uint64_t>(i));
    ASSERT_TRUE(std::isfinite(z));
    s += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);   // 4.5 standard errors
  EXPECT_NEAR(var, 1.0, 0.015);
  EXPECT_NEAR(s4 / n, 3.0, 0.08);  // normal kurtosis
  for (int i = 0; i < 10000; ++i) {
    const double u = rng_uniform(k, static_cast<std::uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Rng, IndicesAboveTwoToThe32AreDistinct) {
  // The counter carries the full 64-bit index, so huge tensors never repeat values.
  const std::uint64_t k = rng_key(0, "big");
  EXPECT_NE(rng_normal(k, 5), rng_normal(k, 5 + (1ull << 32)));
}

}  // namespace
}  // namespace trident
