// Cross-entropy on (vocab-sharded) logits: against a naive double-precision log-softmax, with TP
// vocab padding, huge logits, bad targets and shards, and simulated tp = 2 and 4 sharding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

// ---- cross-entropy ------------------------------------------------------------------------------

// The forward ops chained for one shard as a caller chains them; with tp = 1 the TP reductions
// between them are no-ops.
struct CeState {
  Tensor row_max, sum_exp, target_logit, losses;
};

CeState cross_entropy_tp1(const Tensor& logits, const Tensor& targets, const VocabShard& shard) {
  const std::int64_t n = targets.numel();
  CeState s{Tensor::empty({n}), Tensor::empty({n}), Tensor::empty({n}), Tensor::empty({n})};
  ops().cross_entropy_row_max(logits, shard, s.row_max);
  ops().cross_entropy_sums(logits, targets, shard, s.row_max, s.sum_exp, s.target_logit);
  ops().cross_entropy_losses(s.row_max, s.sum_exp, s.target_logit, s.losses);
  return s;
}

// Log-softmax in double over the first `vocab` values of x: returns the loss, fills p with softmax.
double naive_ce(const float* x, std::int64_t vocab, std::int32_t target, std::vector<double>& p) {
  double m = -INFINITY, z = 0.0;
  for (std::int64_t j = 0; j < vocab; ++j) m = std::max(m, double(x[j]));
  for (std::int64_t j = 0; j < vocab; ++j) z += std::exp(double(x[j]) - m);
  p.resize(static_cast<std::size_t>(vocab));
  for (std::int64_t j = 0; j < vocab; ++j) p[static_cast<std::size_t>(j)] = std::exp(double(x[j]) - m) / z;
  return std::log(z) + m - x[target];
}

TEST(CpuOps, CrossEntropyMatchesNaiveAndIgnoresPadding) {
  const std::int64_t n = 5, vp = 13, vocab = 10;
  const VocabShard shard{0, vocab, vocab};
  Tensor logits = random_tensor({n, vp}, 13, -4.0f, 4.0f);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t j = vocab; j < vp; ++j) logits.data<float>()[r * vp + j] = 1000.0f;  // must not matter
  Tensor targets = ids_tensor({0, 9, 3, 3, 7});
  const CeState s = cross_entropy_tp1(logits, targets, shard);
  Tensor dlogits = Tensor::empty({n, vp});
  ops().fill(dlogits, 5.0f);  // written, not accumulated
  ops().cross_entropy_backward(logits, targets, shard, s.row_max, s.sum_exp, 0.2f, dlogits);
  std::vector<double> p;
  for (std::int64_t r = 0; r < n; ++r) {
    const float* x = logits.data<float>() + r * vp;
    const std::int32_t t = targets.data<std::int32_t>()[r];
    EXPECT_NEAR(s.losses.data<float>()[r], naive_ce(x, vocab, t, p), 1e-5);
    EXPECT_EQ(s.target_logit.data<float>()[r], x[t]);
    for (std::int64_t j = 0; j < vp; ++j) {
      const double want = j < vocab ? 0.2 * (p[static_cast<std::size_t>(j)] - (j == t ? 1.0 : 0.0)) : 0.0;
      EXPECT_NEAR(dlogits.data<float>()[r * vp + j], want, 1e-6);
    }
  }
}

TEST(CpuOps, CrossEntropyIsStableForHugeLogits) {
  Tensor logits = from_vec({3, 3}, {1000, 0, -1000, 1000, 0, -1000, 1000, 0, -1000});
  Tensor targets = ids_tensor({0, 1, 2});
  const VocabShard shard{0, 3, 3};
  const CeState s = cross_entropy_tp1(logits, targets, shard);
  EXPECT_NEAR(s.losses.data<float>()[0], 0.0f, 1e-6);
  EXPECT_NEAR(s.losses.data<float>()[1], 1000.0f, 1e-3);
  EXPECT_NEAR(s.losses.data<float>()[2], 2000.0f, 1e-3);
  Tensor dlogits = Tensor::empty({3, 3});
  ops().cross_entropy_backward(logits, targets, shard, s.row_max, s.sum_exp, 1.0f, dlogits);
  EXPECT_EQ(to_vec(dlogits), (std::vector<float>{0, 0, 0, 1, -1, 0, 1, 0, -1}));
}

TEST(CpuOps, CrossEntropyRejectsTargetOutsideVocab) {
  // The shard holds ids [4, 8) of 10; targets elsewhere in the vocabulary are fine, outside it not.
  const VocabShard shard{4, 4, 10};
  Tensor logits = Tensor::zeros({3, 4});
  Tensor m = Tensor::zeros({3}), s = Tensor::zeros({3}), t = Tensor::zeros({3});
  ops().cross_entropy_sums(logits, ids_tensor({0, 9, 5}), shard, m, s, t);
  EXPECT_EQ(to_vec(t), (std::vector<float>{0, 0, 0}));
  expect_error([&] { ops().cross_entropy_sums(logits, ids_tensor({1, 2, 10}), shard, m, s, t); },
               "cross_entropy_sums: target 10 of row 2 is outside the vocabulary [0, 10)");
  ops().fill(s, 1.0f);
  expect_error(
      [&] { ops().cross_entropy_backward(logits, ids_tensor({-1, 2, 3}), shard, m, s, 1.0f, logits.clone()); },
      "cross_entropy_backward: target -1 of row 0");
}

TEST(CpuOps, CrossEntropyRejectsBadShardsAndShapes) {
  Tensor logits = Tensor::zeros({3, 4}), m = Tensor::zeros({3});
  expect_error([&] { ops().cross_entropy_row_max(logits, {0, 5, 10}, m); }, "cross_entropy_row_max: shard.valid 5");
  expect_error([&] { ops().cross_entropy_row_max(logits, {8, 4, 10}, m); }, "shard [8, 12) does not lie inside");
  expect_error([&] { ops().cross_entropy_row_max(logits, {0, 4, 10}, Tensor::zeros({4})); }, "row_max [4]");
  expect_error([&] { ops().cross_entropy_losses(m, m, Tensor::zeros({2}), m); }, "cross_entropy_losses: target_logit");
  expect_error(
      [&] {
        ops().cross_entropy_backward(logits, ids_tensor({0, 1, 2}), {0, 4, 4}, m, m, 1.0f, Tensor::zeros({3, 5}));
      },
      "cross_entropy_backward: dlogits [3, 5]");
}

// Megatron-style vocab parallelism simulated on one process: the vocabulary V is padded up to a
// multiple of tp, rank r holds columns [r·Vl, (r+1)·Vl), and the all-reduces are loops over
// shards. Losses and the concatenated dlogits must match the unsharded ops and a double reference.
void check_vocab_parallel(std::int64_t vocab, std::int64_t tp) {
  SCOPED_TRACE(testing::Message() << "vocab " << vocab << " tp " << tp);
  const std::int64_t n = 7, vp = (vocab + tp - 1) / tp * tp;
  const float dloss = 1.0f / static_cast<float>(n);
  Tensor full = random_tensor({n, vp}, static_cast<std::uint32_t>(vocab * 10 + tp), -6.0f, 6.0f);
  for (std::int64_t r = 0; r < n; ++r) {
    full.data<float>()[r * vp + (r * 5) % vocab] += 30.0f;  // a dominant logit, on a different rank per row
    for (std::int64_t j = vocab; j < vp; ++j)               // garbage padding: must never be read into results
      full.data<float>()[r * vp + j] = ((j - vocab) % 2) ? NAN : 1e30f;
  }
  std::vector<std::int32_t> tv(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < n; ++r) tv[static_cast<std::size_t>(r)] = static_cast<std::int32_t>((r * 3) % vocab);
  tv.back() = static_cast<std::int32_t>(vocab - 1);  // the last real id, in the last non-empty shard
  Tensor targets = ids_tensor(tv);

  Tensor dlogits = Tensor::empty({n, vp});
  const Tensor losses = sharded_cross_entropy(full, targets, vocab, tp, dloss, dlogits);

  // Unsharded: the whole padded row is one shard with `vocab` real columns.
  const VocabShard whole{0, vocab, vocab};
  const CeState ref = cross_entropy_tp1(full, targets, whole);
  Tensor ref_d = Tensor::empty({n, vp});
  ops().cross_entropy_backward(full, targets, whole, ref.row_max, ref.sum_exp, dloss, ref_d);

  std::vector<double> p;
  for (std::int64_t r = 0; r < n; ++r) {
    const double want = naive_ce(full.data<float>() + r * vp, vocab, tv[static_cast<std::size_t>(r)], p);
    const float got = losses.data<float>()[r];
    EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want))) << "row " << r;
    EXPECT_NEAR(got, ref.losses.data<float>()[r], 1e-5 * std::max(1.0, std::abs(want))) << "row " << r;
    for (std::int64_t j = 0; j < vp; ++j) {
      const float g = dlogits.data<float>()[r * vp + j];
      if (j >= vocab) {
        EXPECT_EQ(g, 0.0f) << "padding column " << j << " of row " << r;
        continue;
      }
      const double w = dloss * (p[static_cast<std::size_t>(j)] - (j == tv[static_cast<std::size_t>(r)] ? 1.0 : 0.0));
      const double tol = 1e-5 * std::max<double>(dloss, std::abs(w));
      EXPECT_NEAR(g, w, tol) << "row " << r << " column " << j;
      EXPECT_NEAR(g, ref_d.data<float>()[r * vp + j], tol) << "row " << r << " column " << j;
    }
  }
}

TEST(CpuOps, CrossEntropyVocabParallelTp2) { check_vocab_parallel(13, 2); }
TEST(CpuOps, CrossEntropyVocabParallelTp4) { check_vocab_parallel(13, 4); }
// vocab 9 over tp 4: Vl = 3, so rank 3 holds only padding (valid = 0, its row_max is -inf).
TEST(CpuOps, CrossEntropyVocabParallelWithAnAllPaddingRank) { check_vocab_parallel(9, 4); }
// Enough columns per shard for the 16-lane loops' main bodies and tails.
TEST(CpuOps, CrossEntropyVocabParallelWideShards) { check_vocab_parallel(203, 4); }


}  // namespace
}  // namespace trident
