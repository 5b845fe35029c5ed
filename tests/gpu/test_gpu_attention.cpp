// CUDA causal attention against the CPU table on the same inputs: forward output, the saved
// softmax statistics (row logsumexp, checked against a double-precision host computation, since the
// CPU table saves probabilities instead), and backward dQ, dK, dV; for the f32 path (cuBLASLt +
// softmax kernels) and the bf16 path (cuDNN fused flash attention). Also: repeat runs, the saved
// shape, and the bad-input messages.
//
// Inputs are bf16-exact, so both tables see identical numbers. qkv is drawn from [-2, 2] (scores
// of std ~1.3, so the softmax is far from uniform) and dout from [-1, 1].
//
// Tolerances:
// - f32: out |err| <= 2e-5 + 1e-4·|ref|; logsumexp <= 5e-5 + 1e-5·|ref|; each gradient part
//   <= 1e-4·max|ref part| + 1e-4·|ref|. Both sides compute in f32 and differ only in summation
//   order (and rowsum(dP∘P) on the CPU vs rowsum(dO∘O) here, equal in exact arithmetic): ~1e-6
//   relative to the values' scale, with 10-100x margin.
// - bf16 out: |err| <= 4·2^-9·max|V| + 2^-8·|ref|. cuDNN rounds P to bf16 before P·V and rounds O
//   to bf16 (8 mantissa bits: 2^-9 relative each), so |err| <= 2^-9·max|V| + 2^-9·|O|; doubled.
// - bf16 logsumexp: 2e-3 + 1e-3·|ref|. The scores are exact products accumulated in f32 on tensor
//   cores; the flash kernel's online softmax (exp2 with the scale folded into log2 e) adds ~1e-6
//   relative; 2e-3 is loose on purpose, the check is that the statistic is the natural-log LSE.
// - bf16 gradients: 2% of the part's max|ref| + 2%·|ref|. cuDNN rounds P and dS to bf16 before the
//   dV, dK, dQ matmuls and works from its own bf16 O (so rowsum(dO∘O) is off by ~2^-9 relative);
//   dS = P∘(dP − rowsum) loses relative accuracy where dP ≈ rowsum, so errors are bounded relative
//   to the gradient's scale rather than per element: ~10 bf16 ulps at that scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using gpu_test::cpu_ops;
using gpu_test::expect_error;
using gpu_test::gpu;
using gpu_test::gpu_ops;
using gpu_test::random_host;
using gpu_test::to_gpu;
using gpu_test::to_host_f32;

struct AttnCase {
  std::int64_t b, s, nh, hd;
  std::string str() const {
    return "B=" + std::to_string(b) + " S=" + std::to_string(s) + " nh=" + std::to_string(nh) +
           " hd=" + std::to_string(hd);
  }
};

// Every S in {1, 17, 128, 256}, nh in {1, 4} and hd in {32, 64, 128} appears at least once.
const std::vector<AttnCase> kCases = {
    {2, 1, 1, 32},  {2, 1, 4, 64},    {2, 17, 4, 64},  {2, 17, 1, 128},
    {2, 128, 4, 32}, {2, 128, 1, 128}, {2, 256, 4, 64}, {2, 256, 1, 128},
};

double max_abs(const Tensor& host_f32) {
  double m = 0;
  const float* p = host_f32.data<float>();
  for (std::int64_t i = 0; i < host_f32.numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(p[i])));
  return m;
}

// Part `which` (0 = q, 1 = k, 2 = v) of a host f32 [B, S, 3, nh, hd] tensor, as [B, S, nh, hd].
Tensor qkv_part(const Tensor& qkv, const AttnCase& c, int which) {
  Tensor out = Tensor::empty({c.b, c.s, c.nh, c.hd});
  const std::int64_t row = c.nh * c.hd;
  for (std::int64_t t = 0; t < c.b * c.s; ++t)
    std::memcpy(out.data<float>() + t * row, qkv.data<float>() + (3 * t + which) * row,
                static_cast<std::size_t>(row) * sizeof(float));
  return out;
}

// Row logsumexp of the scaled causal scores, in double: [B, nh, S, 1].
Tensor reference_lse(const Tensor& qkv, const AttnCase& c) {
  Tensor lse = Tensor::empty({c.b, c.nh, c.s, 1});
  const float* x = qkv.data<float>();
  const std::int64_t ld = 3 * c.nh * c.hd;
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.hd));
  std::vector<double> scores(static_cast<std::size_t>(c.s));
  for (std::int64_t b = 0; b < c.b; ++b)
    for (std::int64_t h = 0; h < c.nh; ++h)
      for (std::int64_t i = 0; i < c.s; ++i) {
        const float* q = x + (b * c.s + i) * ld + h * c.hd;
        double m = -INFINITY;
        for (std::int64_t j = 0; j <= i; ++j) {
          const float* k = x + (b * c.s + j) * ld + c.nh * c.hd + h * c.hd;
          double dot = 0;
          for (std::int64_t e = 0; e < c.hd; ++e) dot += static_cast<double>(q[e]) * k[e];
          scores[static_cast<std::size_t>(j)] = dot * scale;
          m = std::max(m, dot * scale);
        }
        double sum = 0;
        for (std::int64_t j = 0; j <= i; ++j) sum += std::exp(scores[static_cast<std::size_t>(j)] - m);
        lse.data<float>()[(b * c.nh + h) * c.s + i] = static_cast<float>(m + std::log(sum));
      }
  return lse;
}

struct GpuResult {
  Tensor out, saved, dqkv;  // device tensors
};

GpuResult run_gpu(const Tensor& qkv_host, const Tensor& dout_host, const AttnCase& c, DType dt) {
  const Tensor qkv = to_gpu(qkv_host, dt), dout = to_gpu(dout_host, dt);
  GpuResult r;
  r.out = Tensor::empty({c.b, c.s, c.nh, c.hd}, dt, gpu());
  r.saved = Tensor::empty(gpu_ops().attention_saved_shape(c.b, c.nh, c.s), DType::kF32, gpu());
  gpu_ops().attention_forward(qkv, c.nh, r.out, r.saved);
  r.dqkv = Tensor::empty({c.b, c.s, 3, c.nh, c.hd}, dt, gpu());
  gpu_ops().attention_backward(dout, qkv, r.out, r.saved, c.nh, r.dqkv);
  return r;
}

void check_case(const AttnCase& c, DType dt, std::uint32_t seed) {
  const std::string what = c.str() + " " + std::string(dtype_name(dt));
  const Shape qkv_shape{c.b, c.s, 3, c.nh, c.hd};
  const Tensor qkv = random_host(qkv_shape, seed, -2.0f, 2.0f, true);
  const Tensor dout = random_host({c.b, c.s, c.nh, c.hd}, seed + 1, -1.0f, 1.0f, true);

  const Tensor out_ref = Tensor::empty({c.b, c.s, c.nh, c.hd});
  const Tensor probs = Tensor::empty(cpu_ops().attention_saved_shape(c.b, c.nh, c.s));
  cpu_ops().attention_forward(qkv, c.nh, out_ref, probs);
  const Tensor dqkv_ref = Tensor::empty(qkv_shape);
  cpu_ops().attention_backward(dout, qkv, out_ref, probs, c.nh, dqkv_ref);

  const GpuResult r = run_gpu(qkv, dout, c, dt);
  const bool bf16 = dt == DType::kBF16;
  const double max_v = max_abs(qkv_part(qkv, c, 2));
  gpu_test::expect_close(r.out, out_ref, bf16 ? 4.0 * std::ldexp(1.0, -9) * max_v : 2e-5, bf16 ? 1.0 / 256 : 1e-4,
                         "out " + what);
  gpu_test::expect_close(r.saved, reference_lse(qkv, c), bf16 ? 2e-3 : 5e-5, bf16 ? 1e-3 : 1e-5,
                         "logsumexp " + what);
  const Tensor dqkv = to_host_f32(r.dqkv);
  const char* names[] = {"dq ", "dk ", "dv "};
  for (int part = 0; part < 3; ++part) {
    const Tensor expected = qkv_part(dqkv_ref, c, part);
    const double scale = max_abs(expected);
    gpu_test::expect_close(qkv_part(dqkv, c, part), expected, (bf16 ? 2e-2 : 1e-4) * scale + 1e-7,
                           bf16 ? 2e-2 : 1e-4, names[part] + what);
  }
}

TEST(GpuAttention, F32MatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 100;
  for (const AttnCase& c : kCases) check_case(c, DType::kF32, seed += 2);
}

TEST(GpuAttention, Bf16CudnnMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 200;
  for (const AttnCase& c : kCases) check_case(c, DType::kBF16, seed += 2);
}

TEST(GpuAttention, SavedShapeIsSoftmaxStatistics) {
  TRIDENT_REQUIRE_GPU();
  EXPECT_EQ(gpu_ops().attention_saved_shape(2, 4, 128), (Shape{2, 4, 128, 1}));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  return ha.nbytes() == hb.nbytes() && std::memcmp(ha.raw(), hb.raw(), ha.nbytes()) == 0;
}

TEST(GpuAttention, RepeatedRunsAreBitIdentical) {
  TRIDENT_REQUIRE_GPU();
  const AttnCase c{2, 128, 4, 64};
  const Tensor qkv = random_host({c.b, c.s, 3, c.nh, c.hd}, 300, -2.0f, 2.0f, true);
  const Tensor dout = random_host({c.b, c.s, c.nh, c.hd}, 301, -1.0f, 1.0f, true);
  // f32: fixed GEMM algorithms (cached plans) and reduction orders, forward and backward.
  const GpuResult f1 = run_gpu(qkv, dout, c, DType::kF32), f2 = run_gpu(qkv, dout, c, DType::kF32);
  EXPECT_TRUE(same_bits(f1.out, f2.out));
  EXPECT_TRUE(same_bits(f1.saved, f2.saved));
  EXPECT_TRUE(same_bits(f1.dqkv, f2.dqkv));
  // bf16 forward through cuDNN. (Its backward accumulates dQ across key blocks with atomics, so
  // only the forward is bitwise reproducible.)
  const GpuResult b1 = run_gpu(qkv, dout, c, DType::kBF16), b2 = run_gpu(qkv, dout, c, DType::kBF16);
  EXPECT_TRUE(same_bits(b1.out, b2.out));
  EXPECT_TRUE(same_bits(b1.saved, b2.saved));
}

TEST(GpuAttention, BadInputsAreRejectedWithClearMessages) {
  TRIDENT_REQUIRE_GPU();
  const Ops& ops = gpu_ops();
  const Device g = gpu();
  const Tensor qkv = Tensor::zeros({2, 8, 3, 4, 16}, DType::kBF16, g);
  const Tensor out = Tensor::zeros({2, 8, 4, 16}, DType::kBF16, g);
  const Tensor saved = Tensor::zeros({2, 4, 8, 1}, DType::kF32, g);
  const Tensor dqkv = Tensor::zeros({2, 8, 3, 4, 16}, DType::kBF16, g);
  expect_error([&] { ops.attention_forward(Tensor::zeros({2, 8, 3, 4, 16}), 4, out, saved); }, "qkv is on cpu");
  expect_error([&] { ops.attention_forward(Tensor::zeros({2, 8, 3, 4, 16}, DType::kI32, g), 4, out, saved); },
               "qkv is i32");
  expect_error([&] { ops.attention_forward(qkv, 4, Tensor::zeros({2, 8, 4, 16}, DType::kF32, g), saved); },
               "out is f32 but qkv is bf16");
  expect_error([&] { ops.attention_forward(qkv, 4, out, Tensor::zeros({2, 4, 8, 8}, DType::kF32, g)); },
               "attention_saved_shape");
  expect_error([&] { ops.attention_forward(qkv, 4, out, Tensor::zeros({2, 4, 8, 1}, DType::kBF16, g)); },
               "saved is bf16, expected f32");
  expect_error([&] { ops.attention_forward(qkv, 2, out, saved); }, "should be [B, S, 3, 2, hd]");
  expect_error([&] { ops.attention_forward(Tensor::zeros({2, 8, 36}, DType::kBF16, g), 5, out, saved); },
               "not a multiple of 3 x 5 heads");
  expect_error(
      [&] {
        ops.attention_forward(Tensor::zeros({2, 8, 3, 2, 12}, DType::kBF16, g), 2,
                              Tensor::zeros({2, 8, 2, 12}, DType::kBF16, g), Tensor::zeros({2, 2, 8, 1}, DType::kF32, g));
      },
      "multiple of 8");
  expect_error([&] { ops.attention_backward(out, qkv, out, saved, 4, Tensor::zeros({2, 8, 3, 4, 8}, DType::kBF16, g)); },
               "does not match qkv");
  expect_error([&] { ops.attention_backward(Tensor::zeros({2, 8, 4, 8}, DType::kBF16, g), qkv, out, saved, 4, dqkv); },
               "dout [2, 8, 4, 8] should be [2, 8, 4, 16]");
}

}  // namespace
}  // namespace trident
