// CUDA GEMMs (cuBLASLt) against the CPU table (OpenBLAS) on the same inputs: all four transpose
// combinations, beta 0 and 1, strided batches with padded leading dimensions, every dtype pairing
// the CUDA table accepts, repeat runs, and the bad-input messages.
//
// Inputs are drawn bf16-exact (gpu_test::random_host(..., bf16_exact = true)), so the f32 CPU
// reference and a bf16 GPU operand hold identical numbers, and products of two bf16 values are
// exact in f32. Both sides therefore compute the same exact products and differ only in the order
// they add them in f32.
//
// Tolerances:
// - f32 output: |err| <= 2e-6·K + 1e-5·|c|. Reordered f32 summation of K products of magnitude <= 1
//   errs by about 2^-24 per addition on partial sums of size ~√K/3 (random signs), i.e. ~2e-8·K in
//   practice; 2e-6·K leaves two orders of magnitude of margin (still far below any real bug, which
//   shows up at the 1e-2 level), also for tensor-core accumulation of bf16 inputs.
// - bf16 output: the above plus rtol 2^-8: the result is rounded once to bf16 (8 mantissa bits,
//   relative rounding error <= 2^-9), doubled for margin.
#include <gtest/gtest.h>

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

double f32_atol(std::int64_t k) { return 2e-6 * static_cast<double>(k) + 1e-6; }
double rtol_for(DType c) { return c == DType::kBF16 ? 1.0 / 256.0 : 1e-5; }

std::string case_name(bool ta, bool tb, DType ab, DType c, float beta) {
  return std::string("trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0") + " ab=" +
         std::string(dtype_name(ab)) + " c=" + std::string(dtype_name(c)) + " beta=" + std::to_string(beta);
}

// One gemm on the CPU and the GPU with the same inputs; compares the whole of c.
void check_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, DType ab, DType c_dtype, float alpha,
                float beta, std::uint32_t seed) {
  const Tensor a = random_host(ta ? Shape{k, m} : Shape{m, k}, seed, -1.0f, 1.0f, true);
  const Tensor b = random_host(tb ? Shape{n, k} : Shape{k, n}, seed + 1, -1.0f, 1.0f, true);
  const Tensor c0 = random_host({m, n}, seed + 2, -1.0f, 1.0f, true);
  const Tensor expected = c0.clone();
  cpu_ops().gemm(ta, tb, alpha, a, b, beta, expected);
  const Tensor c = to_gpu(c0, c_dtype);
  gpu_ops().gemm(ta, tb, alpha, to_gpu(a, ab), to_gpu(b, ab), beta, c);
  gpu_test::expect_close(c, expected, f32_atol(k), rtol_for(c_dtype), case_name(ta, tb, ab, c_dtype, beta));
}

TEST(GpuGemm, AllTransposesF32) {
  TRIDENT_REQUIRE_GPU();
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) check_gemm(ta, tb, 37, 45, 29, DType::kF32, DType::kF32, 1.0f, beta, 11);
}

TEST(GpuGemm, AllTransposesBf16InputsF32AndBf16Outputs) {
  TRIDENT_REQUIRE_GPU();
  for (DType c : {DType::kF32, DType::kBF16})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f}) check_gemm(ta, tb, 64, 48, 80, DType::kBF16, c, 0.5f, beta, 21);
}

TEST(GpuGemm, LinearLayerShapesAndWeightGradientAccumulation) {
  TRIDENT_REQUIRE_GPU();
  // y = x·W, dx = dy·Wᵀ, dW += xᵀ·dy (bf16 activations, f32 accumulated gradient) at a larger K.
  check_gemm(false, false, 256, 384, 512, DType::kBF16, DType::kBF16, 1.0f, 0.0f, 31);
  check_gemm(false, true, 256, 512, 384, DType::kBF16, DType::kBF16, 1.0f, 0.0f, 32);
  check_gemm(true, false, 512, 384, 256, DType::kBF16, DType::kF32, 1.0f, 1.0f, 33);
  check_gemm(false, false, 256, 384, 512, DType::kF32, DType::kF32, 1.0f, 0.0f, 34);
}

TEST(GpuGemm, RankThreeOperandsAreViewedAs2d) {
  TRIDENT_REQUIRE_GPU();
  const Tensor x = random_host({2, 5, 24}, 41, -1.0f, 1.0f, true);  // [B, S, C] -> [10, 24]
  const Tensor w = random_host({24, 16}, 42, -1.0f, 1.0f, true);
  const Tensor expected = Tensor::zeros({2, 5, 16});
  cpu_ops().gemm(false, false, 1.0f, x, w, 0.0f, expected);
  const Tensor y = Tensor::empty({2, 5, 16}, DType::kF32, gpu());
  gpu_ops().gemm(false, false, 1.0f, x.to(gpu()), w.to(gpu()), 0.0f, y);
  gpu_test::expect_close(y, expected, f32_atol(24), 1e-5, "rank-3 x");
}

// Strided batch with leading dims wider than the matrices and gaps between batch entries: the
// padding must stay untouched, so the whole of c is compared (the CPU leaves it as it was).
void check_strided(bool ta, bool tb, DType ab, DType c_dtype, float beta, std::uint32_t seed) {
  GemmBatch s;
  s.batch = 3;
  s.m = 7;
  s.n = 9;
  s.k = 11;
  const std::int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const std::int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  s.lda = a_cols + 3;
  s.ldb = b_cols + 5;
  s.ldc = s.n + 2;
  s.stride_a = a_rows * s.lda + 4;
  s.stride_b = b_rows * s.ldb + 1;
  s.stride_c = s.m * s.ldc + 6;
  const Tensor a = random_host({s.batch * s.stride_a}, seed, -1.0f, 1.0f, true);
  const Tensor b = random_host({s.batch * s.stride_b}, seed + 1, -1.0f, 1.0f, true);
  const Tensor c0 = random_host({s.batch * s.stride_c}, seed + 2, -1.0f, 1.0f, true);
  const Tensor expected = c0.clone();
  cpu_ops().gemm_strided_batched(ta, tb, s, 1.5f, a, b, beta, expected);
  const Tensor c = to_gpu(c0, c_dtype);
  gpu_ops().gemm_strided_batched(ta, tb, s, 1.5f, to_gpu(a, ab), to_gpu(b, ab), beta, c);
  gpu_test::expect_close(c, expected, f32_atol(s.k), rtol_for(c_dtype),
                         "strided " + case_name(ta, tb, ab, c_dtype, beta));
}

TEST(GpuGemm, StridedBatchedWithPaddedLeadingDims) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 51;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        check_strided(ta, tb, DType::kF32, DType::kF32, beta, seed += 3);
        check_strided(ta, tb, DType::kBF16, DType::kF32, beta, seed += 3);
        check_strided(ta, tb, DType::kBF16, DType::kBF16, beta, seed += 3);
      }
}

TEST(GpuGemm, ZeroInnerDimScalesC) {
  TRIDENT_REQUIRE_GPU();
  const Tensor a = Tensor::empty({4, 0}, DType::kF32, gpu());
  const Tensor b = Tensor::empty({0, 6}, DType::kF32, gpu());
  const Tensor c0 = random_host({4, 6}, 61);
  for (float beta : {0.0f, 0.5f}) {
    const Tensor expected = c0.clone();
    cpu_ops().gemm(false, false, 1.0f, Tensor::empty({4, 0}), Tensor::empty({0, 6}), beta, expected);
    const Tensor c = c0.to(gpu());
    gpu_ops().gemm(false, false, 1.0f, a, b, beta, c);
    gpu_test::expect_close(c, expected, 0.0, 0.0, "K = 0, beta = " + std::to_string(beta));
  }
}

TEST(GpuGemm, RepeatedRunsAreBitIdentical) {
  TRIDENT_REQUIRE_GPU();
  // The second call reuses the cached plan (same algorithm), so results must match bit for bit.
  const Tensor a = random_host({96, 160}, 71, -1.0f, 1.0f, true).to(gpu());
  const Tensor b = random_host({160, 72}, 72, -1.0f, 1.0f, true).to(gpu());
  const Tensor c1 = Tensor::empty({96, 72}, DType::kF32, gpu()), c2 = Tensor::empty({96, 72}, DType::kF32, gpu());
  gpu_ops().gemm(false, false, 1.0f, a, b, 0.0f, c1);
  gpu_ops().gemm(false, false, 1.0f, a, b, 0.0f, c2);
  const Tensor h1 = c1.to(Device::cpu()), h2 = c2.to(Device::cpu());
  EXPECT_EQ(std::memcmp(h1.raw(), h2.raw(), h1.nbytes()), 0);
}

TEST(GpuGemm, BadInputsAreRejectedWithClearMessages) {
  TRIDENT_REQUIRE_GPU();
  const Tensor a = Tensor::zeros({4, 8}, DType::kF32, gpu());
  const Tensor b = Tensor::zeros({8, 5}, DType::kF32, gpu());
  const Tensor c = Tensor::zeros({4, 5}, DType::kF32, gpu());
  const Ops& ops = gpu_ops();
  expect_error([&] { ops.gemm(false, false, 1.0f, Tensor::zeros({4, 8}), b, 0.0f, c); }, "a is on cpu");
  expect_error([&] { ops.gemm(false, false, 1.0f, a, Tensor::zeros({8, 5}, DType::kBF16, gpu()), 0.0f, c); },
               "a and b must share a dtype");
  expect_error([&] { ops.gemm(false, false, 1.0f, a, b, 0.0f, Tensor::zeros({4, 5}, DType::kBF16, gpu())); },
               "f32 inputs need an f32 c");
  expect_error([&] { ops.gemm(false, false, 1.0f, a, Tensor::zeros({8, 5}, DType::kI32, gpu()), 0.0f, c); },
               "b is i32");
  expect_error([&] { ops.gemm(false, true, 1.0f, a, b, 0.0f, c); }, "inner dims differ");
  expect_error([&] { ops.gemm(false, false, 1.0f, a, b, 0.0f, Tensor::zeros({5, 4}, DType::kF32, gpu())); },
               "should be [4, 5]");
  GemmBatch s;
  s.batch = 2;
  s.m = 4;
  s.n = 5;
  s.k = 8;
  s.lda = 8;
  s.ldb = 5;
  s.ldc = 5;
  s.stride_a = 32;
  s.stride_b = 40;
  s.stride_c = 20;
  expect_error([&] { ops.gemm_strided_batched(false, false, s, 1.0f, a, b, 0.0f, c); }, "reaches element");
  s.batch = 1;
  s.lda = 4;
  expect_error([&] { ops.gemm_strided_batched(false, false, s, 1.0f, a, b, 0.0f, c); }, "lda = 4 is smaller");
}

}  // namespace
}  // namespace trident
