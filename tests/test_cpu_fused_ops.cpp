// Every fused CPU op against its unfused composition (core/ops.h defines each fused op as one):
// bias + GELU, residual add + LayerNorm forward, LayerNorm input backward + residual gradient, the
// one-pass tp = 1 cross-entropy, and the in-place cross-entropy backward. The fused kernels do the
// same arithmetic in fewer passes, so they agree bit for bit (the LayerNorm backward's residual add
// to rounding), at one thread and at two.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/cpu/blas_threads.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

// Runs each test body at 1 and 2 worker threads (the row kernels split rows over the pool).
class CpuFusedOps : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    before_ = blas_threads();
    set_blas_threads(GetParam());
  }
  void TearDown() override { set_blas_threads(before_); }

 private:
  int before_ = 1;
};

// Rows large enough that two threads really split them (the pool's grain is 16384 elements).
constexpr std::int64_t kRows = 300, kCols = 200;

TEST_P(CpuFusedOps, BiasGeluEqualsBiasAddThenGelu) {
  const Tensor x = random_tensor({kRows, kCols}, 1, -4.0f, 4.0f), bias = random_tensor({kCols}, 2);
  const Tensor fused_x = x.clone(), fused_out = Tensor::empty(x.shape());
  ops().bias_gelu_forward(fused_x, bias, fused_out);
  const Tensor ref_x = x.clone(), ref_out = Tensor::empty(x.shape());
  ops().bias_add(ref_x, bias);
  ops().gelu_forward(ref_x, ref_out);
  EXPECT_EQ(to_vec(fused_x), to_vec(ref_x));  // x holds GELU's input, for gelu_backward
  EXPECT_EQ(to_vec(fused_out), to_vec(ref_out));
}

TEST_P(CpuFusedOps, AddLayerNormEqualsAddThenLayerNorm) {
  const Tensor a = random_tensor({kRows, kCols}, 3, -3.0f, 5.0f), b = random_tensor({kRows, kCols}, 4);
  const Tensor w = random_tensor({kCols}, 5, 0.5f, 1.5f), bias = random_tensor({kCols}, 6);
  const float eps = 1e-5f;
  const Tensor ref_sum = Tensor::empty(a.shape()), ref_out = Tensor::empty(a.shape());
  const Tensor ref_mean = Tensor::empty({kRows}), ref_rstd = Tensor::empty({kRows});
  ops().add(a, b, ref_sum);
  ops().layernorm_forward(ref_sum, w, bias, eps, ref_out, ref_mean, ref_rstd);
  // sum written over a (as TransformerBlock does) and into its own buffer.
  for (bool in_place : {true, false}) {
    const Tensor a2 = a.clone(), sum = in_place ? a2 : Tensor::empty(a.shape()), out = Tensor::empty(a.shape());
    const Tensor mean = Tensor::empty({kRows}), rstd = Tensor::empty({kRows});
    ops().add_layernorm_forward(a2, b, sum, w, bias, eps, out, mean, rstd);
    EXPECT_EQ(to_vec(sum), to_vec(ref_sum)) << "in place " << in_place;
    EXPECT_EQ(to_vec(out), to_vec(ref_out)) << "in place " << in_place;
    EXPECT_EQ(to_vec(mean), to_vec(ref_mean));
    EXPECT_EQ(to_vec(rstd), to_vec(ref_rstd));
  }
}

TEST_P(CpuFusedOps, LayerNormBackwardInputAddEqualsBackwardThenAdd) {
  const Tensor x = random_tensor({kRows, kCols}, 7, -2.0f, 3.0f), dout = random_tensor({kRows, kCols}, 8);
  const Tensor dres = random_tensor({kRows, kCols}, 9), w = random_tensor({kCols}, 10, 0.5f, 1.5f);
  const Tensor bias = random_tensor({kCols}, 11), out = Tensor::empty(x.shape());
  const Tensor mean = Tensor::empty({kRows}), rstd = Tensor::empty({kRows});
  ops().layernorm_forward(x, w, bias, 1e-5f, out, mean, rstd);
  const Tensor ref = Tensor::empty(x.shape());
  ops().layernorm_backward_input(dout, x, w, mean, rstd, ref);
  ops().add(ref, dres, ref);
  // The residual add may fuse with the last multiply into one multiply-add: equal to rounding.
  float scale = 0.0f;
  for (float v : to_vec(ref)) scale = std::max(scale, std::abs(v));
  for (bool in_place : {true, false}) {
    const Tensor r = dres.clone(), dx = in_place ? r : Tensor::empty(x.shape());
    ops().layernorm_backward_input_add(dout, x, w, mean, rstd, r, dx);
    for (std::int64_t i = 0; i < dx.numel(); ++i)
      ASSERT_NEAR(dx.data<float>()[i], ref.data<float>()[i], 1e-6f * scale) << "in place " << in_place << " at " << i;
  }
}

// tp = 1 with TP padding columns past the vocabulary (the shard is the whole vocabulary).
TEST_P(CpuFusedOps, CrossEntropyFusedEqualsTheFourOps) {
  const std::int64_t n = 150, vocab = 257, vl = 264;
  const Tensor logits = random_tensor({n, vl}, 12, -6.0f, 6.0f);
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < n; ++r) t[static_cast<std::size_t>(r)] = static_cast<std::int32_t>((r * 37) % vocab);
  const Tensor targets = ids_tensor(t);
  const VocabShard shard{0, vocab, vocab};
  const float dloss = 1.0f / static_cast<float>(n);

  const Tensor row_max = Tensor::empty({n}), sum_exp = Tensor::empty({n}), tgt = Tensor::empty({n});
  const Tensor ref_losses = Tensor::empty({n}), ref_grad = Tensor::empty(logits.shape());
  ops().cross_entropy_row_max(logits, shard, row_max);
  ops().cross_entropy_sums(logits, targets, shard, row_max, sum_exp, tgt);
  ops().cross_entropy_losses(row_max, sum_exp, tgt, ref_losses);
  ops().cross_entropy_backward(logits, targets, shard, row_max, sum_exp, dloss, ref_grad);

  const Tensor fused = logits.clone(), losses = Tensor::empty({n});
  ops().cross_entropy_fused(fused, targets, shard, dloss, losses);
  EXPECT_EQ(to_vec(losses), to_vec(ref_losses));
  EXPECT_EQ(to_vec(fused), to_vec(ref_grad));  // the gradient over the logits, padding zeroed

  // The backward in place (as the vocab-parallel head runs it) equals the out-of-place one.
  const Tensor in_place = logits.clone();
  ops().cross_entropy_backward(in_place, targets, shard, row_max, sum_exp, dloss, in_place);
  EXPECT_EQ(to_vec(in_place), to_vec(ref_grad));
}

INSTANTIATE_TEST_SUITE_P(Threads, CpuFusedOps, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& i) { return std::to_string(i.param) + "threads"; });

TEST(CpuFusedOpsChecks, CrossEntropyFusedRejectsAShardedVocabulary) {
  const Tensor logits = Tensor::zeros({2, 8}), losses = Tensor::empty({2});
  expect_error([&] { ops().cross_entropy_fused(logits, ids_tensor({1, 2}), {8, 8, 16}, 0.5f, losses); },
               "cross_entropy_fused: the shard [8, 16) is not the whole vocabulary of 16");
}

TEST(CpuFusedOpsChecks, ShapesAreChecked) {
  const Tensor x = Tensor::zeros({4, 6});
  expect_error([&] { ops().bias_gelu_forward(x, Tensor::zeros({5}), Tensor::empty({4, 6})); },
               "bias_gelu_forward: bias [5] does not match x's last dim 6");
  expect_error(
      [&] {
        ops().add_layernorm_forward(x, Tensor::zeros({4, 5}), x, Tensor::zeros({6}), Tensor::zeros({6}), 1e-5f,
                                    Tensor::empty({4, 6}), Tensor::empty({4}), Tensor::empty({4}));
      },
      "add_layernorm_forward: b [4, 5] does not match sum [4, 6]");
  expect_error(
      [&] {
        ops().layernorm_backward_input_add(x, x, Tensor::zeros({6}), Tensor::zeros({4}), Tensor::zeros({4}),
                                           Tensor::zeros({3, 6}), x);
      },
      "layernorm_backward_input_add: dresidual [3, 6] does not match x [4, 6]");
}

}  // namespace
}  // namespace trident
