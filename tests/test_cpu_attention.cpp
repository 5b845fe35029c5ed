// The CPU's flash-style causal attention (core/cpu/cpu_attention.cpp) against a naive reference
// written straight from the definitions in double:
// - the reference's own gradient is checked by central finite differences in f64 (small shapes);
// - the fused op's output, saved log-sum-exp and every input gradient (dq, dk, dv) match the
//   reference: 1e-5 relative (max error over max magnitude) on the model's head dims, on sequence
//   lengths that are not a multiple of the 64-token tile, S = 1, one head, and the masks at tile
//   edges (S = 63, 64, 65, 128, 129);
// - results do not depend on the thread count; no S x S state exists (saved is [B, nh, S, 1] and
//   the per-thread workspace grows linearly in S).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/cpu/blas_threads.h"
#include "core/cpu/cpu_attention.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

struct Dims {
  std::int64_t b, s, nh, hd;
  std::size_t qkv(std::int64_t bi, std::int64_t si, int which, std::int64_t h, std::int64_t j) const {
    return static_cast<std::size_t>((((bi * s + si) * 3 + which) * nh + h) * hd + j);
  }
  std::size_t row(std::int64_t bi, std::int64_t si, std::int64_t h, std::int64_t j) const {
    return static_cast<std::size_t>(((bi * s + si) * nh + h) * hd + j);
  }
  std::size_t qkv_numel() const { return static_cast<std::size_t>(b * s * 3 * nh * hd); }
  std::size_t out_numel() const { return static_cast<std::size_t>(b * s * nh * hd); }
};

struct Ref {
  std::vector<double> out, lse, dqkv;  // [B, S, nh, hd], [B, nh, S], [B, S, 3, nh, hd]
};

// Causal attention forward (and, given dout, backward) in double from the definitions:
// P = softmax(mask(Q·Kᵀ/√hd)), O = P·V;  dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
// dQ = dS·K/√hd, dK = dSᵀ·Q/√hd.
Ref reference(const Dims& d, const std::vector<double>& x, const std::vector<double>* dout) {
  const double scale = 1.0 / std::sqrt(double(d.hd));
  Ref r;
  r.out.assign(d.out_numel(), 0.0);
  r.lse.assign(static_cast<std::size_t>(d.b * d.nh * d.s), 0.0);
  r.dqkv.assign(d.qkv_numel(), 0.0);
  const auto S = static_cast<std::size_t>(d.s);
  for (std::int64_t b = 0; b < d.b; ++b)
    for (std::int64_t h = 0; h < d.nh; ++h) {
      std::vector<double> p(S * S, 0.0);
      for (std::int64_t i = 0; i < d.s; ++i) {
        double mx = -1e300;
        for (std::int64_t j = 0; j <= i; ++j) {
          double s = 0;
          for (std::int64_t k = 0; k < d.hd; ++k) s += x[d.qkv(b, i, 0, h, k)] * x[d.qkv(b, j, 1, h, k)];
          p[i * S + j] = s * scale;
          mx = std::max(mx, p[i * S + j]);
        }
        double z = 0;
        for (std::int64_t j = 0; j <= i; ++j) z += std::exp(p[i * S + j] - mx);
        r.lse[static_cast<std::size_t>((b * d.nh + h) * d.s + i)] = mx + std::log(z);
        for (std::int64_t j = 0; j <= i; ++j) p[i * S + j] = std::exp(p[i * S + j] - mx) / z;
        for (std::int64_t k = 0; k < d.hd; ++k) {
          double o = 0;
          for (std::int64_t j = 0; j <= i; ++j) o += p[i * S + j] * x[d.qkv(b, j, 2, h, k)];
          r.out[d.row(b, i, h, k)] = o;
        }
      }
      if (dout == nullptr) continue;
      const std::vector<double>& g = *dout;
      for (std::int64_t i = 0; i < d.s; ++i) {
        std::vector<double> dp(static_cast<std::size_t>(i + 1), 0.0);
        double rowdot = 0;
        for (std::int64_t j = 0; j <= i; ++j) {
          for (std::int64_t k = 0; k < d.hd; ++k) dp[j] += g[d.row(b, i, h, k)] * x[d.qkv(b, j, 2, h, k)];
          rowdot += dp[j] * p[i * S + j];
        }
        for (std::int64_t j = 0; j <= i; ++j) {
          const double ds = p[i * S + j] * (dp[j] - rowdot);
          for (std::int64_t k = 0; k < d.hd; ++k) {
            r.dqkv[d.qkv(b, i, 0, h, k)] += ds * x[d.qkv(b, j, 1, h, k)] * scale;
            r.dqkv[d.qkv(b, j, 1, h, k)] += ds * x[d.qkv(b, i, 0, h, k)] * scale;
            r.dqkv[d.qkv(b, j, 2, h, k)] += p[i * S + j] * g[d.row(b, i, h, k)];
          }
        }
      }
    }
  return r;
}

std::vector<double> as_double(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

// max |got − want| / max |want| over [begin, end) of a flat index range selected by `keep`.
template <typename Keep>
double rel_error(const float* got, const std::vector<double>& want, Keep keep) {
  double err = 0, mag = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (keep(i)) {
      err = std::max(err, std::abs(double(got[i]) - want[i]));
      mag = std::max(mag, std::abs(want[i]));
    }
  return mag == 0 ? err : err / mag;
}

TEST(CpuAttention, ReferenceGradientMatchesFiniteDifferencesInDouble) {
  const Dims d{2, 5, 2, 3};
  std::vector<double> x = as_double(random_tensor({d.b, d.s, 3, d.nh, d.hd}, 1, -1.5f, 1.5f));
  const std::vector<double> w = as_double(random_tensor({d.b, d.s, d.nh, d.hd}, 2));
  auto loss = [&] {
    const Ref r = reference(d, x, nullptr);
    double l = 0;
    for (std::size_t i = 0; i < w.size(); ++i) l += w[i] * r.out[i];
    return l;
  };
  const Ref analytic = reference(d, x, &w);
  const double eps = 1e-6;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double orig = x[i];
    x[i] = orig + eps;
    const double lp = loss();
    x[i] = orig - eps;
    const double lm = loss();
    x[i] = orig;
    const double fd = (lp - lm) / (2 * eps);
    ASSERT_NEAR(analytic.dqkv[i], fd, 1e-8 + 1e-6 * std::abs(fd)) << "element " << i;
  }
}

// Runs the op on random inputs and holds forward, log-sum-exp and all three gradients to the reference.
void check_against_reference(const Dims& d, double tol) {
  SCOPED_TRACE(testing::Message() << "B " << d.b << " S " << d.s << " nh " << d.nh << " hd " << d.hd);
  const Tensor qkv = random_tensor({d.b, d.s, 3, d.nh, d.hd}, 3, -1.5f, 1.5f);
  const Tensor dout = random_tensor({d.b, d.s, d.nh, d.hd}, 4);
  const Tensor out = Tensor::empty({d.b, d.s, d.nh, d.hd});
  const Tensor saved = Tensor::empty(ops().attention_saved_shape(d.b, d.nh, d.s));
  ASSERT_EQ(saved.shape(), (Shape{d.b, d.nh, d.s, 1}));
  ops().fill(out, std::nanf(""));  // every element must be written
  ops().fill(saved, std::nanf(""));
  ops().attention_forward(qkv, d.nh, out, saved);
  const Tensor dqkv = Tensor::empty(qkv.shape());
  ops().fill(dqkv, std::nanf(""));
  ops().attention_backward(dout, qkv, out, saved, d.nh, dqkv);

  const std::vector<double> g = as_double(dout);
  const Ref ref = reference(d, as_double(qkv), &g);
  auto all = [](std::size_t) { return true; };
  EXPECT_LE(rel_error(out.data<float>(), ref.out, all), tol) << "out";
  EXPECT_LE(rel_error(saved.data<float>(), ref.lse, all), tol) << "log-sum-exp";
  const char* names[3] = {"dq", "dk", "dv"};
  for (int which = 0; which < 3; ++which) {
    auto part = [&](std::size_t i) { return static_cast<int>((i / static_cast<std::size_t>(d.nh * d.hd)) % 3) == which; };
    EXPECT_LE(rel_error(dqkv.data<float>(), ref.dqkv, part), tol) << names[which];
  }
}

TEST(CpuAttention, MatchesReferenceOnTinyShapes) { check_against_reference({2, 7, 2, 4}, 1e-5); }
TEST(CpuAttention, SequenceOfOne) { check_against_reference({3, 1, 2, 8}, 1e-5); }
TEST(CpuAttention, OneHead) { check_against_reference({1, 100, 1, 16}, 1e-5); }
TEST(CpuAttention, OddHeadDim) { check_against_reference({1, 70, 2, 5}, 1e-5); }

// The causal mask at the edges of the 64-token tiles: one short of a tile, exactly one or two
// tiles, one past.
TEST(CpuAttention, MasksAtTileEdges) {
  ASSERT_EQ(cpu::kAttentionTile, 64);
  for (std::int64_t s : {63, 64, 65, 128, 129}) check_against_reference({1, s, 2, 8}, 1e-5);
}

// The model's head dims (mini: 32, GPT-2 small: 64) on sequences that are not whole tiles.
TEST(CpuAttention, ModelHeadDims) {
  check_against_reference({2, 200, 2, 32}, 1e-5);
  check_against_reference({1, 300, 2, 64}, 1e-5);
}

// Head-dim columns beyond one 64-wide block of the micro-kernel.
TEST(CpuAttention, WideHeads) { check_against_reference({1, 90, 1, 80}, 1e-5); }

// Items are spread over the worker pool; each is computed the same way on any thread.
TEST(CpuAttention, ThreadCountDoesNotChangeResults) {
  const std::int64_t B = 2, S = 150, nh = 3, hd = 32;
  const Tensor qkv = random_tensor({B, S, 3, nh, hd}, 14), dout = random_tensor({B, S, nh, hd}, 15);
  auto run = [&](int threads) {
    set_blas_threads(threads);
    Tensor out = Tensor::empty({B, S, nh, hd}), saved = Tensor::empty(ops().attention_saved_shape(B, nh, S));
    Tensor dqkv = Tensor::empty(qkv.shape());
    ops().attention_forward(qkv, nh, out, saved);
    ops().attention_backward(dout, qkv, out, saved, nh, dqkv);
    return std::vector<std::vector<float>>{to_vec(out), to_vec(saved), to_vec(dqkv)};
  };
  const int before = blas_threads();
  const auto one = run(1), two = run(2);
  set_blas_threads(before);
  EXPECT_EQ(one, two);
}

// Activation memory is linear in S: the saved state is one f32 per query row, and the workspace
// per thread grows by a constant per token (no S x S term).
TEST(CpuAttention, MemoryIsLinearInSequenceLength) {
  EXPECT_EQ(ops().attention_saved_shape(2, 12, 4096), (Shape{2, 12, 4096, 1}));
  const std::int64_t hd = 64;
  const std::int64_t w1 = cpu::attention_workspace_bytes(1024, hd), w2 = cpu::attention_workspace_bytes(2048, hd),
                     w4 = cpu::attention_workspace_bytes(4096, hd);
  EXPECT_EQ(w4 - w2, 2 * (w2 - w1));
  EXPECT_LT(w4, 4096 * 4096 * 4 / 16);  // far below one S x S f32 matrix
}

TEST(CpuAttention, RejectsWrongSaved) {
  const Tensor qkv = Tensor::zeros({1, 4, 3, 2, 8});
  expect_error([&] { ops().attention_forward(qkv, 2, Tensor::zeros({1, 4, 2, 8}), Tensor::zeros({1, 2, 4, 4})); },
               "attention_forward: saved [1, 2, 4, 4] should be [1, 2, 4, 1]");
  expect_error([&] { ops().attention_forward(qkv, 3, Tensor::zeros({1, 4, 2, 8}), Tensor::zeros({1, 2, 4, 1})); },
               "attention_forward");
}

}  // namespace
}  // namespace trident
