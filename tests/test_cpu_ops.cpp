// Direct value tests of the CPU op table: each op against a naive reference or hand-computed values,
// plus the argument checks (bad shapes throw trident::Error naming the op).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/cpu/blas_threads.h"
#include "core/cpu/cpu_ops.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

// ---- memory -------------------------------------------------------------------------------------

TEST(CpuOps, FillAllDtypes) {
  Tensor f = Tensor::empty({5});
  ops().fill(f, 2.5f);
  for (float v : to_vec(f)) EXPECT_EQ(v, 2.5f);
  Tensor h = Tensor::empty({4}, DType::kBF16);
  ops().fill(h, -2.5f);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.data<bf16>()[i].bits, 0xC020);
  Tensor n = Tensor::empty({3}, DType::kI32);
  ops().fill(n, 7.0f);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(n.data<std::int32_t>()[i], 7);
}

TEST(CpuOps, CopyAndCheck) {
  Tensor a = from_vec({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::zeros({2, 2});
  ops().copy(a, b);
  EXPECT_EQ(to_vec(b), to_vec(a));
  expect_error([&] { ops().copy(a, Tensor::zeros({4})); }, "copy");
}

TEST(CpuOps, Bf16RoundsToNearestEven) {
  EXPECT_EQ(to_bf16(1.0f).bits, 0x3F80);
  EXPECT_EQ(to_bf16(-2.5f).bits, 0xC020);
  EXPECT_EQ(to_bf16(3.14159f).bits, 0x4049);  // 0x40490FD0: low half < 0x8000 rounds down -> 3.140625
  EXPECT_EQ(to_bf16(std::bit_cast<float>(0x3F808000u)).bits, 0x3F80);  // tie, even stays
  EXPECT_EQ(to_bf16(std::bit_cast<float>(0x3F818000u)).bits, 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(to_bf16(std::bit_cast<float>(0x3F808001u)).bits, 0x3F81);  // above the tie rounds up
}

TEST(CpuOps, ConvertRoundTrip) {
  Tensor src = from_vec({4}, {1.0f, -2.5f, 3.14159f, 0.0f});
  Tensor half = Tensor::empty({2, 2}, DType::kBF16);  // same numel, other shape is fine
  ops().convert(src, half);
  Tensor back = Tensor::empty({4});
  ops().convert(half, back);
  EXPECT_EQ(to_vec(back), (std::vector<float>{1.0f, -2.5f, 3.140625f, 0.0f}));
  Tensor same = Tensor::empty({4});
  ops().convert(src, same);
  EXPECT_EQ(to_vec(same), to_vec(src));
  expect_error([&] { ops().convert(src, Tensor::empty({3}, DType::kBF16)); }, "convert");
}

// ---- GEMM ---------------------------------------------------------------------------------------

// c = alpha * op(a) op(b) + beta * c in double; a stored [M,K] or [K,M], b stored [K,N] or [N,K].
std::vector<float> naive_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                              const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                              const float* c, std::int64_t ldc) {
  std::vector<float> out(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (std::int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      out[static_cast<std::size_t>(i * n + j)] = static_cast<float>(alpha * acc + beta * c[i * ldc + j]);
    }
  return out;
}

TEST(CpuOps, GemmAllTransposeCombos) {
  const std::int64_t m = 5, n = 7, k = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, 1);
      Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, 2);
      Tensor c = random_tensor({m, n}, 3);
      const auto want = naive_gemm(ta, tb, m, n, k, 1.5f, a.data<float>(), a.dim(1), b.data<float>(), b.dim(1), 0.5f,
                                   c.data<float>(), n);
      ops().gemm(ta, tb, 1.5f, a, b, 0.5f, c);
      const auto got = to_vec(c);
      for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "ta " << ta << " tb " << tb;
    }
}

TEST(CpuOps, GemmViewsRank3As2d) {
  Tensor a = random_tensor({2, 3, 4}, 4);  // [B, S, K] -> [6, 4]
  Tensor b = random_tensor({4, 5}, 5);
  Tensor c = Tensor::zeros({2, 3, 5});
  ops().gemm(false, false, 1.0f, a, b, 0.0f, c);
  const auto want =
      naive_gemm(false, false, 6, 5, 4, 1.0f, a.data<float>(), 4, b.data<float>(), 5, 0.0f, c.data<float>(), 5);
  const auto got = to_vec(c);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5);
}

TEST(CpuOps, GemmWithEmptyInnerDimScalesC) {
  Tensor c = from_vec({2, 2}, {1, 2, 3, 4});
  ops().gemm(false, false, 1.0f, Tensor::zeros({2, 0}), Tensor::zeros({0, 2}), 0.5f, c);
  EXPECT_EQ(to_vec(c), (std::vector<float>{0.5f, 1, 1.5f, 2}));
  ops().gemm(false, false, 1.0f, Tensor::zeros({2, 0}), Tensor::zeros({0, 2}), 0.0f, c);
  EXPECT_EQ(to_vec(c), (std::vector<float>{0, 0, 0, 0}));
}

TEST(CpuOps, GemmRejectsBadShapesAndDtypes) {
  Tensor a = Tensor::zeros({4, 3}), b = Tensor::zeros({5, 6});
  expect_error([&] { ops().gemm(false, false, 1.0f, a, b, 0.0f, Tensor::zeros({4, 6})); }, "gemm: inner dims");
  expect_error(
      [&] {
        ops().gemm(false, false, 1.0f, a, Tensor::zeros({3, 6}), 0.0f, Tensor::zeros({4, 5}));
      },
      "gemm: c [4, 5]");
  expect_error(
      [&] {
        ops().gemm(false, false, 1.0f, Tensor::zeros({4, 3}, DType::kBF16), b, 0.0f, Tensor::zeros({4, 6}));
      },
      "gemm");
}

TEST(CpuOps, GemmStridedBatchedMatchesNaive) {
  // Padded leading dimensions and strides larger than one matrix, as attention uses them.
  const std::int64_t batch = 3, m = 4, n = 5, k = 6;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      GemmBatch s;
      s.batch = batch, s.m = m, s.n = n, s.k = k;
      s.lda = (ta ? m : k) + 2, s.ldb = (tb ? k : n) + 1, s.ldc = n + 3;
      s.stride_a = (ta ? k : m) * s.lda + 5, s.stride_b = (tb ? n : k) * s.ldb, s.stride_c = m * s.ldc + 1;
      Tensor a = random_tensor({batch * s.stride_a}, 6);
      Tensor b = random_tensor({batch * s.stride_b}, 7);
      Tensor c = random_tensor({batch * s.stride_c}, 8);
      const Tensor c0 = c.clone();
      ops().gemm_strided_batched(ta, tb, s, 0.5f, a, b, 2.0f, c);
      for (std::int64_t i = 0; i < batch; ++i) {
        const auto want =
            naive_gemm(ta, tb, m, n, k, 0.5f, a.data<float>() + i * s.stride_a, s.lda, b.data<float>() + i * s.stride_b,
                       s.ldb, 2.0f, c0.data<float>() + i * s.stride_c, s.ldc);
        for (std::int64_t r = 0; r < m; ++r)
          for (std::int64_t j = 0; j < n; ++j)
            EXPECT_NEAR(c.data<float>()[i * s.stride_c + r * s.ldc + j], want[static_cast<std::size_t>(r * n + j)],
                        1e-5);
      }
    }
}

// At 2 threads a GEMM is cut into row blocks (M >= 128) or, for a short wide C, column blocks, each a
// single-threaded sgemm. Row blocks equal the 1-thread result bit for bit, for every transpose and
// for a batched call (items in parallel) too; column blocks agree to rounding. Shapes big enough to split.
TEST(CpuOps, GemmSplitOverTwoThreadsEqualsOneThread) {
  const int before = blas_threads();
  struct Dims {
    std::int64_t m, n, k;
  };
  for (const Dims d : {Dims{300, 70, 64}, Dims{40, 333, 100}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Tensor a = random_tensor(ta ? Shape{d.k, d.m} : Shape{d.m, d.k}, 11);
        const Tensor b = random_tensor(tb ? Shape{d.n, d.k} : Shape{d.k, d.n}, 12);
        const Tensor c0 = random_tensor({d.m, d.n}, 13);
        std::vector<std::vector<float>> got;
        for (int threads : {1, 2}) {
          set_blas_threads(threads);
          const Tensor c = c0.clone();
          ops().gemm(ta, tb, 1.5f, a, b, 0.5f, c);
          got.push_back(to_vec(c));
        }
        set_blas_threads(before);
        if (d.m >= 128) {
          EXPECT_EQ(got[0], got[1]) << "m " << d.m << " n " << d.n << " ta " << ta << " tb " << tb;
        } else {
          for (std::size_t i = 0; i < got[0].size(); ++i)
            ASSERT_NEAR(got[0][i], got[1][i], 1e-5f * std::max(1.0f, std::abs(got[0][i]))) << "ta " << ta << " tb " << tb;
        }
        const auto want = naive_gemm(ta, tb, d.m, d.n, d.k, 1.5f, a.data<float>(), a.dim(1), b.data<float>(), b.dim(1),
                                     0.5f, c0.data<float>(), d.n);
        for (std::size_t i = 0; i < want.size(); i += 97) EXPECT_NEAR(got[1][i], want[i], 1e-4);
      }
  GemmBatch s;
  s.batch = 3, s.m = 300, s.n = 70, s.k = 64;
  s.lda = s.k, s.ldb = s.n, s.ldc = s.n;
  s.stride_a = s.m * s.k, s.stride_b = 0, s.stride_c = s.m * s.n;
  const Tensor a = random_tensor({s.batch * s.stride_a}, 14), b = random_tensor({s.k * s.n}, 15);
  std::vector<std::vector<float>> got;
  for (int threads : {1, 2}) {
    set_blas_threads(threads);
    const Tensor c = Tensor::zeros({s.batch * s.stride_c});
    ops().gemm_strided_batched(false, false, s, 1.0f, a, b, 0.0f, c);
    got.push_back(to_vec(c));
  }
  set_blas_threads(before);
  EXPECT_EQ(got[0], got[1]);
}

TEST(CpuOps, GemmStridedBatchedChecksExtent) {
  GemmBatch s;
  s.batch = 2, s.m = 2, s.n = 2, s.k = 2, s.lda = 2, s.ldb = 2, s.ldc = 2;
  s.stride_a = 4, s.stride_b = 4, s.stride_c = 4;
  expect_error(
      [&] {
        ops().gemm_strided_batched(false, false, s, 1.0f, Tensor::zeros({7}), Tensor::zeros({8}), 0.0f,
                                   Tensor::zeros({8}));
      },
      "gemm_strided_batched: a [7]");
}

// ---- pointwise and reductions -------------------------------------------------------------------

TEST(CpuOps, SumAndSumSquares) {
  Tensor x = from_vec({5}, {1, -2, 3, 0.5f, 4});
  EXPECT_DOUBLE_EQ(ops().sum(x), 6.5);
  EXPECT_DOUBLE_EQ(ops().sum_squares(x), 1 + 4 + 9 + 0.25 + 16);
  Tensor big = Tensor::empty({1000});
  ops().fill(big, 0.1f);
  EXPECT_NEAR(ops().sum(big), 1000 * double(0.1f), 1e-9);
}

TEST(CpuOps, AddAxpyScale) {
  Tensor a = from_vec({3}, {1, 2, 3}), b = from_vec({3}, {10, 20, 30});
  ops().add(a, b, a);  // out aliases a
  EXPECT_EQ(to_vec(a), (std::vector<float>{11, 22, 33}));
  ops().axpy(-2.0f, b, a);
  EXPECT_EQ(to_vec(a), (std::vector<float>{-9, -18, -27}));
  ops().scale(a, -1.0f / 9.0f);
  EXPECT_EQ(to_vec(a), (std::vector<float>{1, 2, 3}));
  expect_error([&] { ops().add(a, Tensor::zeros({4}), a); }, "add");
}

TEST(CpuOps, BiasAddAndBackward) {
  Tensor x = Tensor::zeros({2, 2, 3});  // [B, S, C]
  Tensor bias = from_vec({3}, {1, 2, 3});
  ops().bias_add(x, bias);
  EXPECT_EQ(to_vec(x), (std::vector<float>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  Tensor dbias = from_vec({3}, {100, 0, 0});
  ops().bias_backward(x, dbias);  // accumulates: Σ over 4 rows
  EXPECT_EQ(to_vec(dbias), (std::vector<float>{104, 8, 12}));
  expect_error([&] { ops().bias_add(x, Tensor::zeros({4})); }, "bias_add: bias [4] does not match x's last dim 3");
}

double gelu_ref(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

TEST(CpuOps, GeluKnownValues) {
  const std::vector<float> xs = {0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 0.001f, 10.0f, -10.0f, 0.5f};
  Tensor x = from_vec({static_cast<std::int64_t>(xs.size())}, xs);
  Tensor y = Tensor::empty(x.shape());
  ops().gelu_forward(x, y);
  EXPECT_NEAR(y.data<float>()[0], 0.0f, 1e-7);
  EXPECT_NEAR(y.data<float>()[1], 0.8411920f, 1e-6);
  EXPECT_NEAR(y.data<float>()[2], -0.1588080f, 1e-6);
  for (std::size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(y.data<float>()[i], gelu_ref(xs[i]), 2e-6) << xs[i];
}

TEST(CpuOps, GeluMatchesReferenceOnADenseRange) {
  const std::int64_t n = 4001;
  Tensor x = Tensor::empty({n}), y = Tensor::empty({n});
  for (std::int64_t i = 0; i < n; ++i) x.data<float>()[i] = -10.0f + 0.005f * static_cast<float>(i);
  ops().gelu_forward(x, y);
  for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(y.data<float>()[i], gelu_ref(x.data<float>()[i]), 2e-6);
}

// ---- LayerNorm ----------------------------------------------------------------------------------

TEST(CpuOps, LayerNormNormalisesRows) {
  const std::int64_t n = 6, c = 256;
  Tensor x = random_tensor({n, c}, 9, 2.0f, 5.0f);  // large mean: the two-pass variance must hold up
  Tensor w = Tensor::empty({c}), b = Tensor::zeros({c});
  ops().fill(w, 1.0f);
  Tensor out = Tensor::empty({n, c}), mean = Tensor::empty({n}), rstd = Tensor::empty({n});
  ops().layernorm_forward(x, w, b, 1e-5f, out, mean, rstd);
  for (std::int64_t r = 0; r < n; ++r) {
    double mu = 0, var = 0;
    for (std::int64_t j = 0; j < c; ++j) mu += out.data<float>()[r * c + j];
    mu /= c;
    for (std::int64_t j = 0; j < c; ++j) var += std::pow(out.data<float>()[r * c + j] - mu, 2);
    var /= c;
    EXPECT_NEAR(mu, 0.0, 1e-5);
    EXPECT_NEAR(var, 1.0, 1e-3);  // 1 - eps·rstd² ≈ 1 - 1.3e-4 for uniform[2,5] rows
  }
}

TEST(CpuOps, LayerNormKnownValues) {
  Tensor x = from_vec({1, 4}, {1, 2, 3, 4});
  Tensor w = from_vec({4}, {1, 2, 0.5f, 1}), b = from_vec({4}, {0, 1, 0, -1});
  Tensor out = Tensor::empty({1, 4}), mean = Tensor::empty({1}), rstd = Tensor::empty({1});
  ops().layernorm_forward(x, w, b, 1e-5f, out, mean, rstd);
  const double rs = 1.0 / std::sqrt(1.25 + 1e-5);  // mean 2.5, biased variance 1.25
  EXPECT_NEAR(mean.data<float>()[0], 2.5f, 1e-6);
  EXPECT_NEAR(rstd.data<float>()[0], rs, 1e-6);
  const std::vector<double> want = {-1.5 * rs, 2 * (-0.5 * rs) + 1, 0.5 * 0.5 * rs, 1.5 * rs - 1};
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(out.data<float>()[j], want[static_cast<std::size_t>(j)], 1e-5);
}

TEST(CpuOps, LayerNormWeightGradsAccumulate) {
  Tensor x = random_tensor({5, 16}, 16), dout = random_tensor({5, 16}, 17);
  Tensor w = Tensor::empty({16}), b = Tensor::zeros({16});
  ops().fill(w, 1.0f);
  Tensor out = Tensor::empty({5, 16}), mean = Tensor::empty({5}), rstd = Tensor::empty({5});
  ops().layernorm_forward(x, w, b, 1e-5f, out, mean, rstd);  // out = xhat here
  Tensor dw = Tensor::empty({16}), db = Tensor::empty({16});
  ops().fill(dw, 1.0f);
  ops().fill(db, -1.0f);
  ops().layernorm_backward_weight(dout, x, mean, rstd, dw, db);
  for (std::int64_t j = 0; j < 16; ++j) {
    double want_w = 1.0, want_b = -1.0;
    for (std::int64_t r = 0; r < 5; ++r) {
      want_w += double(dout.data<float>()[r * 16 + j]) * out.data<float>()[r * 16 + j];
      want_b += dout.data<float>()[r * 16 + j];
    }
    EXPECT_NEAR(dw.data<float>()[j], want_w, 1e-5);
    EXPECT_NEAR(db.data<float>()[j], want_b, 1e-5);
  }
}

TEST(CpuOps, LayerNormRejectsWrongWeight) {
  Tensor x = Tensor::zeros({2, 256}), out = Tensor::zeros({2, 256}), mean = Tensor::zeros({2}),
         rstd = Tensor::zeros({2});
  expect_error([&] { ops().layernorm_forward(x, Tensor::zeros({255}), Tensor::zeros({255}), 1e-5f, out, mean, rstd); },
               "layernorm_forward: weight [255] does not match x's last dim 256");
}

// ---- embedding ----------------------------------------------------------------------------------

TEST(CpuOps, EmbeddingMaskedLookup) {
  // This shard holds rows [10, 14) of the vocabulary.
  Tensor table = from_vec({4, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32});
  Tensor ids = ids_tensor({9, 10, 13, 14, 11, -1});
  Tensor out = Tensor::empty({2, 3, 3});
  ops().fill(out, 99.0f);
  ops().embedding_forward(ids, table, 10, out);
  EXPECT_EQ(to_vec(out), (std::vector<float>{0, 0, 0, 0, 1, 2, 30, 31, 32, 0, 0, 0, 10, 11, 12, 0, 0, 0}));

  Tensor dtable = from_vec({4, 3}, std::vector<float>(12, 1.0f));
  Tensor grads = random_tensor({6, 3}, 12);
  Tensor ids2 = ids_tensor({10, 13, 10, 99, 9, 12});  // repeated id 10 accumulates twice
  ops().embedding_backward(grads, ids2, 10, dtable);
  const float* g = grads.data<float>();
  for (int j = 0; j < 3; ++j) {
    EXPECT_FLOAT_EQ(dtable.data<float>()[0 * 3 + j], 1 + g[0 * 3 + j] + g[2 * 3 + j]);
    EXPECT_FLOAT_EQ(dtable.data<float>()[1 * 3 + j], 1.0f);
    EXPECT_FLOAT_EQ(dtable.data<float>()[2 * 3 + j], 1 + g[5 * 3 + j]);
    EXPECT_FLOAT_EQ(dtable.data<float>()[3 * 3 + j], 1 + g[1 * 3 + j]);
  }
  expect_error([&] { ops().embedding_forward(ids, table, 10, Tensor::zeros({6, 4})); }, "embedding_forward");
}

// ---- AdamW --------------------------------------------------------------------------------------

TEST(CpuOps, AdamWFirstStepByHand) {
  Tensor param = from_vec({2}, {1.0f, -2.0f}), grad = from_vec({2}, {0.5f, -0.1f});
  Tensor m = Tensor::zeros({2}), v = Tensor::zeros({2});
  AdamWParams p;
  p.lr = 0.1f, p.beta1 = 0.9f, p.beta2 = 0.95f, p.eps = 1e-8f, p.weight_decay = 0.01f, p.step = 1;
  ops().adamw_update(param, grad, m, v, p);
  // m = 0.1·g, v = 0.05·g²; m̂ = g, v̂ = g², so m̂/(√v̂ + eps) = sign(g) (up to eps).
  EXPECT_NEAR(m.data<float>()[0], 0.05f, 1e-7);
  EXPECT_NEAR(v.data<float>()[0], 0.0125f, 1e-8);
  EXPECT_NEAR(param.data<float>()[0], 1.0 - 0.1 * (1.0 + 0.01 * 1.0), 1e-6);     // 0.899
  EXPECT_NEAR(param.data<float>()[1], -2.0 - 0.1 * (-1.0 + 0.01 * -2.0), 1e-6);  // -1.898
}

TEST(CpuOps, AdamWLaterStepMatchesFormula) {
  Tensor param = from_vec({1}, {0.3f}), grad = from_vec({1}, {-0.2f});
  Tensor m = from_vec({1}, {0.01f}), v = from_vec({1}, {0.002f});
  AdamWParams p;
  p.lr = 1e-3f, p.beta1 = 0.9f, p.beta2 = 0.95f, p.eps = 1e-8f, p.weight_decay = 0.1f, p.step = 3;
  ops().adamw_update(param, grad, m, v, p);
  const double mm = 0.9 * 0.01 + 0.1 * -0.2, vv = 0.95 * 0.002 + 0.05 * 0.04;
  const double mh = mm / (1 - std::pow(0.9, 3)), vh = vv / (1 - std::pow(0.95, 3));
  EXPECT_NEAR(param.data<float>()[0], 0.3 - 1e-3 * (mh / (std::sqrt(vh) + 1e-8) + 0.1 * 0.3), 1e-7);
  EXPECT_NEAR(m.data<float>()[0], mm, 1e-7);
  EXPECT_NEAR(v.data<float>()[0], vv, 1e-7);
  expect_error([&] { ops().adamw_update(param, Tensor::zeros({2}), m, v, p); }, "adamw_update");
}

// Gradients from 0 and 1e-19 (g² = 1e-38: v̂ reaches the subnormal f32 range; smaller g² would
// underflow to 0 in f32 itself) to 1e3, against the formula in double. eps is tiny so √v̂ matters.
TEST(CpuOps, AdamWAcrossMagnitudes) {
  std::vector<float> g;
  for (int e = -19; e <= 3; ++e) {
    g.push_back(1.7f * std::pow(10.0f, float(e)));
    g.push_back(-0.6f * std::pow(10.0f, float(e)));
  }
  g.push_back(0.0f);
  const auto n = static_cast<std::int64_t>(g.size());
  Tensor grad = from_vec({n}, g), param = Tensor::empty({n}), m = Tensor::zeros({n}), v = Tensor::zeros({n});
  ops().fill(param, 0.5f);
  AdamWParams p;
  p.lr = 1e-2f, p.eps = 1e-30f, p.weight_decay = 0.0f, p.step = 1;
  ops().adamw_update(param, grad, m, v, p);
  for (std::int64_t i = 0; i < n; ++i) {
    const double gi = g[static_cast<std::size_t>(i)];
    const double mh = (1 - double(p.beta1)) * gi / (1 - double(p.beta1));
    const double vh = (1 - double(p.beta2)) * gi * gi / (1 - double(p.beta2));
    const double want = 0.5 - 1e-2 * (mh / (std::sqrt(vh) + 1e-30));
    EXPECT_NEAR(param.data<float>()[i], want, 1e-6) << "grad " << gi;
  }
}

}  // namespace
}  // namespace trident
