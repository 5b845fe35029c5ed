// Every backward of the CPU op table against central finite differences.
//
// The scalar objective is L = Σ w ⊙ f(inputs) with a fixed random weighting w, so dL/dout = w is
// what each backward receives. Forwards run in f32 and L is summed in double from the f32 outputs;
// eps = 1e-2 on small, well-conditioned inputs keeps both truncation and rounding error near 1e-5,
// far below the tolerance (abs 1e-3 + rel 1e-2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

// L = Σ w ⊙ out in double.
double weighted_sum(const Tensor& w, const Tensor& out) {
  double l = 0.0;
  for (std::int64_t i = 0; i < out.numel(); ++i) l += double(w.data<float>()[i]) * out.data<float>()[i];
  return l;
}

// Perturbs each element of `input` by ±eps, re-evaluates `loss`, and compares the central difference
// with `analytic` (same shape as input). Reports at most a few mismatches per call.
void fd_check(const char* what, const Tensor& input, const Tensor& analytic, const std::function<double()>& loss,
              float eps = 1e-2f, double atol = 1e-3, double rtol = 1e-2) {
  ASSERT_EQ(input.numel(), analytic.numel()) << what;
  float* x = input.data<float>();
  int failures = 0;
  for (std::int64_t i = 0; i < input.numel(); ++i) {
    const float orig = x[i];
    const float up = orig + eps, down = orig - eps;
    x[i] = up;
    const double lp = loss();
    x[i] = down;
    const double lm = loss();
    x[i] = orig;
    const double fd = (lp - lm) / (double(up) - double(down));  // the step actually taken in f32
    const double an = analytic.data<float>()[i];
    if (std::abs(fd - an) > atol + rtol * std::abs(fd) && failures++ < 5)
      ADD_FAILURE() << what << ": element " << i << " analytic " << an << " vs finite difference " << fd;
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << input.numel() << " elements off";
}

TEST(CpuGradcheck, GemmAllTransposeCombos) {
  const std::int64_t m = 4, n = 5, k = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE(testing::Message() << "trans_a " << ta << " trans_b " << tb);
      Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, 1);
      Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, 2);
      Tensor w = random_tensor({m, n}, 3);  // = dC
      Tensor c = Tensor::empty({m, n});
      auto loss = [&] {
        ops().gemm(ta, tb, 1.0f, a, b, 0.0f, c);
        return weighted_sum(w, c);
      };
      // dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, transposed back to each operand's stored layout.
      Tensor da = Tensor::empty(a.shape()), db = Tensor::empty(b.shape());
      if (!ta)
        ops().gemm(false, !tb, 1.0f, w, b, 0.0f, da);  // [M,N]·op(B)ᵀ
      else
        ops().gemm(tb, true, 1.0f, b, w, 0.0f, da);  // op(B)·dCᵀ = [K,N]·[N,M]
      if (!tb)
        ops().gemm(!ta, false, 1.0f, a, w, 0.0f, db);  // op(A)ᵀ·dC
      else
        ops().gemm(true, ta, 1.0f, w, a, 0.0f, db);  // dCᵀ·op(A) = [N,M]·[M,K]
      fd_check("gemm dA", a, da, loss);
      fd_check("gemm dB", b, db, loss);
    }
}

TEST(CpuGradcheck, Add) {
  Tensor a = random_tensor({3, 4}, 4), b = random_tensor({3, 4}, 5), w = random_tensor({3, 4}, 6);
  Tensor out = Tensor::empty({3, 4});
  auto loss = [&] {
    ops().add(a, b, out);
    return weighted_sum(w, out);
  };
  fd_check("add da", a, w, loss);
  fd_check("add db", b, w, loss);
}

TEST(CpuGradcheck, BiasAdd) {
  Tensor x = random_tensor({2, 3, 5}, 7), bias = random_tensor({5}, 8), w = random_tensor({2, 3, 5}, 9);
  Tensor y = Tensor::empty(x.shape());
  auto loss = [&] {
    ops().copy(x, y);
    ops().bias_add(y, bias);
    return weighted_sum(w, y);
  };
  Tensor dbias = Tensor::zeros({5});
  ops().bias_backward(w, dbias);
  fd_check("bias_add dbias", bias, dbias, loss);
  fd_check("bias_add dx", x, w, loss);
}

TEST(CpuGradcheck, Gelu) {
  Tensor x = random_tensor({64}, 10, -4.0f, 4.0f), w = random_tensor({64}, 11);
  Tensor y = Tensor::empty(x.shape()), dx = Tensor::empty(x.shape());
  auto loss = [&] {
    ops().gelu_forward(x, y);
    return weighted_sum(w, y);
  };
  ops().gelu_backward(w, x, dx);
  fd_check("gelu dx", x, dx, loss);
}

TEST(CpuGradcheck, LayerNorm) {
  const std::int64_t n = 3, c = 8;
  Tensor x = random_tensor({n, c}, 12, -2.0f, 2.0f);
  Tensor weight = random_tensor({c}, 13, 0.5f, 1.5f), bias = random_tensor({c}, 14);
  Tensor w = random_tensor({n, c}, 15);
  Tensor out = Tensor::empty({n, c}), mean = Tensor::empty({n}), rstd = Tensor::empty({n});
  auto loss = [&] {
    ops().layernorm_forward(x, weight, bias, 1e-5f, out, mean, rstd);
    return weighted_sum(w, out);
  };
  loss();  // mean, rstd of the unperturbed x for backward
  Tensor dx = Tensor::empty({n, c}), dweight = Tensor::zeros({c}), dbias = Tensor::zeros({c});
  ops().layernorm_backward_input(w, x, weight, mean, rstd, dx);
  ops().layernorm_backward_weight(w, x, mean, rstd, dweight, dbias);
  fd_check("layernorm dx", x, dx, loss);
  fd_check("layernorm dweight", weight, dweight, loss);
  fd_check("layernorm dbias", bias, dbias, loss);
}

TEST(CpuGradcheck, Attention) {
  const std::int64_t B = 2, S = 5, nh = 2, hd = 4;
  Tensor qkv = random_tensor({B, S, 3, nh, hd}, 16);
  Tensor w = random_tensor({B, S, nh, hd}, 17);
  Tensor out = Tensor::empty({B, S, nh, hd}), saved = Tensor::empty(ops().attention_saved_shape(B, nh, S));
  auto loss = [&] {
    ops().attention_forward(qkv, nh, out, saved);
    return weighted_sum(w, out);
  };
  loss();
  Tensor dqkv = Tensor::empty(qkv.shape());
  ops().attention_backward(w, qkv, out, saved, nh, dqkv);
  fd_check("attention dqkv", qkv, dqkv, loss);
}

TEST(CpuGradcheck, Embedding) {
  // Shard rows [4, 8) of a vocabulary; ids outside contribute nothing, repeated ids add up.
  Tensor table = random_tensor({4, 3}, 18);
  Tensor ids = ids_tensor({5, 4, 5, 9, 7, 0});
  Tensor w = random_tensor({6, 3}, 19);
  Tensor out = Tensor::empty({6, 3});
  auto loss = [&] {
    ops().embedding_forward(ids, table, 4, out);
    return weighted_sum(w, out);
  };
  Tensor dtable = Tensor::zeros({4, 3});
  ops().embedding_backward(w, ids, 4, dtable);
  fd_check("embedding dtable", table, dtable, loss);
}

// Σ dloss·loss in double over the shared vocab-parallel simulation.
double sharded_loss(const Tensor& full, const Tensor& targets, std::int64_t vocab, std::int64_t tp, float dloss,
                    const Tensor& dfull = Tensor()) {
  const Tensor losses = sharded_cross_entropy(full, targets, vocab, tp, dloss, dfull);
  double l = 0.0;
  for (std::int64_t i = 0; i < losses.numel(); ++i) l += double(dloss) * losses.data<float>()[i];
  return l;
}

void check_cross_entropy_grad(std::int64_t vocab, std::int64_t tp, std::int64_t vp) {
  SCOPED_TRACE(testing::Message() << "vocab " << vocab << " tp " << tp << " padded " << vp);
  const std::int64_t n = 4;
  const float dloss = 0.25f;  // mean over the 4 rows
  Tensor logits = random_tensor({n, vp}, static_cast<std::uint32_t>(20 + tp), -2.0f, 2.0f);
  Tensor targets = ids_tensor({0, static_cast<std::int32_t>(vocab - 1), 3, 3});
  auto loss = [&] { return sharded_loss(logits, targets, vocab, tp, dloss); };
  Tensor dlogits = Tensor::empty({n, vp});
  sharded_loss(logits, targets, vocab, tp, dloss, dlogits);
  fd_check("cross_entropy dlogits", logits, dlogits, loss);  // padding columns: FD 0, analytic 0
}

TEST(CpuGradcheck, CrossEntropyWithVocabPadding) { check_cross_entropy_grad(7, 1, 9); }
// vocab 7 padded to 9 over tp 3: shards of 3 columns, the last with 1 real column and 2 padding.
TEST(CpuGradcheck, CrossEntropyVocabParallelTp3) { check_cross_entropy_grad(7, 3, 9); }

}  // namespace
}  // namespace trident
