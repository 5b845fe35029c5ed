// CUDA LayerNorm against the CPU table: forward, backward-input and backward-weight on the same
// inputs, for f32 and bf16 activations and weights (in every pairing), row lengths C = 1, 7 (the
// scalar kernels), 768, 1600 (the vectorised ones) and odd row counts; a view that starts
// mid-allocation (the unaligned fallback); accumulation of the parameter gradients; bad operands.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/ops.h"
#include "core/tensor.h"
#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using namespace gpu_test;

constexpr float kEps = 1e-5f;

// Tolerances (|gpu − cpu| <= atol + rtol·|cpu|):
// - f32 results differ from the CPU only by summation order inside a row (warp tree vs the CPU's
//   16 lanes) over C <= 1600 values of size ~1: a few f32 ulps (2^-24 ≈ 6e-8 each) of O(1..10)
//   quantities, so 1e-5 absolute / relative leaves ample margin.
constexpr double kF32Atol = 1e-5, kF32Rtol = 1e-5;
// - backward-input subtracts O(rstd) terms that nearly cancel, so its absolute error is a few ulps
//   of rstd · O(1) (rstd ≈ 1 to 3 here): 2e-5.
constexpr double kDxAtol = 2e-5, kDxRtol = 1e-5;
// - bf16 outputs: the GPU's f32 value is rounded to bf16 (8 significant bits, spacing 2^-7 relative
//   at worst), so one bf16 ulp, 2^-7 ≈ 7.8e-3 relative, on top of the f32 tolerance. bf16 inputs
//   are bf16-exact on both sides, so the inputs themselves add no error.
constexpr double kBf16Rtol = 1.0 / 128;

// Column sums over n rows in another order (per-thread runs, an 8-way and a chunk-wise tree vs the
// CPU's chunked doubles): random-walk error ≈ 2^-24 · Σ|dout·xhat| · √depth ≲ 6e-8 · 2n · 10, so
// 2e-6·n absolute. Inputs are bf16-exact in the bf16 runs and the gradients f32, so both dtypes
// share this tolerance.
double weight_grad_atol(std::int64_t n) { return 2e-6 * static_cast<double>(n) + 1e-5; }

const Shape kShapes[] = {{5, 1}, {3, 11, 7}, {17, 768}, {9, 1600}};

std::string label(const char* what, const Shape& s, DType x, DType w) {
  return std::string(what) + " x " + s.str() + " " + std::string(dtype_name(x)) + ", weight " +
         std::string(dtype_name(w));
}

std::int64_t rows_of(const Shape& s) { return s.numel() / s[-1]; }

struct LnInputs {
  Tensor x, weight, bias, dout;  // host f32 (bf16-exact when any operand goes to the GPU as bf16)
};

LnInputs make_inputs(const Shape& s, std::uint32_t seed, bool bf16_exact) {
  const std::int64_t c = s[-1];
  // x off-centre (mean ≈ 1), so the kernels' two-pass variance is exercised.
  return {random_host(s, seed, -1.0f, 3.0f, bf16_exact), random_host({c}, seed + 1, 0.5f, 1.5f, bf16_exact),
          random_host({c}, seed + 2, -0.5f, 0.5f, bf16_exact), random_host(s, seed + 3, -1.0f, 1.0f, bf16_exact)};
}

// The CPU table's forward on host inputs: out, and the statistics the backward ops take.
struct CpuForward {
  Tensor out, mean, rstd;
};

CpuForward cpu_forward(const LnInputs& in) {
  const std::int64_t n = rows_of(in.x.shape());
  CpuForward f{Tensor::empty(in.x.shape()), Tensor::empty({n}), Tensor::empty({n})};
  cpu_ops().layernorm_forward(in.x, in.weight, in.bias, kEps, f.out, f.mean, f.rstd);
  return f;
}

TEST(GpuLayerNorm, ForwardMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 100;
  for (const Shape& s : kShapes)
    for (DType xd : kFloatDtypes)
      for (DType wd : kFloatDtypes) {
        const bool bf16 = xd == DType::kBF16 || wd == DType::kBF16;
        const LnInputs in = make_inputs(s, seed += 10, bf16);
        const auto [out, mean, rstd] = cpu_forward(in);

        const std::int64_t n = rows_of(s);
        const Tensor g_out = gpu_empty(s, xd), g_mean = gpu_empty({n}), g_rstd = gpu_empty({n});
        gpu_ops().layernorm_forward(to_gpu(in.x, xd), to_gpu(in.weight, wd), to_gpu(in.bias, wd), kEps, g_out, g_mean,
                                    g_rstd);
        const double rtol = xd == DType::kBF16 ? kBf16Rtol : kF32Rtol;
        expect_close(g_out, out, kF32Atol, rtol, label("out", s, xd, wd));
        expect_close(g_mean, mean, kF32Atol, kF32Rtol, label("mean", s, xd, wd));
        expect_close(g_rstd, rstd, kF32Atol, kF32Rtol, label("rstd", s, xd, wd));
      }
}

// x and out one f32 past a 16-byte boundary: C = 768 would take the vectorised path, but the
// launcher must fall back to scalar accesses.
TEST(GpuLayerNorm, UnalignedViewsUseTheScalarPath) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 7, c = 768;
  const LnInputs in = make_inputs({n, c}, 7, false);
  const auto [out, mean, rstd] = cpu_forward(in);

  const Tensor g_x = misaligned_gpu(in.x, DType::kF32), g_out = misaligned_gpu(Tensor::zeros({n, c}), DType::kF32);
  const Tensor g_mean = gpu_empty({n}), g_rstd = gpu_empty({n});
  gpu_ops().layernorm_forward(g_x, to_gpu(in.weight, DType::kF32), to_gpu(in.bias, DType::kF32), kEps, g_out, g_mean,
                              g_rstd);
  expect_close(g_out, out, kF32Atol, kF32Rtol, "unaligned out");
  expect_close(g_rstd, rstd, kF32Atol, kF32Rtol, "unaligned rstd");

  // Backward-input through the same unaligned views.
  Tensor dx = Tensor::empty({n, c});
  cpu_ops().layernorm_backward_input(in.dout, in.x, in.weight, mean, rstd, dx);
  const Tensor g_dout = misaligned_gpu(in.dout, DType::kF32), g_dx = gpu_empty({n, c});
  gpu_ops().layernorm_backward_input(g_dout, g_x, to_gpu(in.weight, DType::kF32), to_gpu(mean, DType::kF32),
                                     to_gpu(rstd, DType::kF32), g_dx);
  expect_close(g_dx, dx, kDxAtol, kDxRtol, "unaligned dx");
}

TEST(GpuLayerNorm, BackwardInputMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 200;
  for (const Shape& s : kShapes)
    for (DType xd : kFloatDtypes)
      for (DType wd : kFloatDtypes) {
        const bool bf16 = xd == DType::kBF16 || wd == DType::kBF16;
        const LnInputs in = make_inputs(s, seed += 10, bf16);
        const CpuForward f = cpu_forward(in);
        Tensor dx = Tensor::empty(s);
        cpu_ops().layernorm_backward_input(in.dout, in.x, in.weight, f.mean, f.rstd, dx);

        // The same saved statistics on both sides, so only the backward kernel is compared.
        const Tensor g_dx = gpu_empty(s, xd);
        gpu_ops().fill(g_dx, 7.0f);  // written, not accumulated
        gpu_ops().layernorm_backward_input(to_gpu(in.dout, xd), to_gpu(in.x, xd), to_gpu(in.weight, wd),
                                           to_gpu(f.mean, DType::kF32), to_gpu(f.rstd, DType::kF32), g_dx);
        expect_close(g_dx, dx, kDxAtol, xd == DType::kBF16 ? kBf16Rtol : kDxRtol, label("dx", s, xd, wd));
      }
}

// dweight and dbias start non-zero and the op runs twice: both calls must add.
TEST(GpuLayerNorm, BackwardWeightAccumulatesLikeCpu) {
  TRIDENT_REQUIRE_GPU();
  const Shape shapes[] = {{5, 1}, {3, 11, 7}, {333, 7}, {17, 768}, {333, 768}, {9, 1600}, {1001, 1600}};
  std::uint32_t seed = 300;
  for (const Shape& s : shapes)
    for (DType xd : kFloatDtypes) {
      const LnInputs in = make_inputs(s, seed += 10, xd == DType::kBF16);
      const std::int64_t n = rows_of(s), c = s[-1];
      const CpuForward f = cpu_forward(in);
      const Tensor dweight0 = random_host({c}, seed + 5), dbias0 = random_host({c}, seed + 6);
      const Tensor g_dweight = to_gpu(dweight0, DType::kF32), g_dbias = to_gpu(dbias0, DType::kF32);
      const Tensor dweight = dweight0.clone(), dbias = dbias0.clone();
      const Tensor g_dout = to_gpu(in.dout, xd), g_x = to_gpu(in.x, xd);
      const Tensor g_mean = to_gpu(f.mean, DType::kF32), g_rstd = to_gpu(f.rstd, DType::kF32);
      for (int call = 0; call < 2; ++call) {
        cpu_ops().layernorm_backward_weight(in.dout, in.x, f.mean, f.rstd, dweight, dbias);
        gpu_ops().layernorm_backward_weight(g_dout, g_x, g_mean, g_rstd, g_dweight, g_dbias);
      }
      const double atol = 2 * weight_grad_atol(n);  // two calls' worth of error
      expect_close(g_dweight, dweight, atol, kF32Rtol, label("dweight", s, xd, DType::kF32));
      expect_close(g_dbias, dbias, atol, kF32Rtol, label("dbias", s, xd, DType::kF32));
    }
}

TEST(GpuLayerNorm, RejectsBadOperands) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 3, c = 8;
  const Tensor x = gpu_zeros({n, c}), w = gpu_zeros({c}), b = gpu_zeros({c}), out = gpu_zeros({n, c});
  const Tensor mean = gpu_zeros({n}), rstd = gpu_zeros({n});
  const Ops& ops = gpu_ops();
  expect_error([&] { ops.layernorm_forward(Tensor::zeros({n, c}), w, b, kEps, out, mean, rstd); },
               "layernorm_forward: x is on cpu, but this op table runs on cuda:0");
  expect_error([&] { ops.layernorm_forward(gpu_zeros({n, c}, DType::kI32), w, b, kEps, out, mean, rstd); },
               "layernorm_forward: x is i32; the CUDA op table takes f32 or bf16");
  expect_error([&] { ops.layernorm_forward(x, w, b, kEps, gpu_zeros({n, c}, DType::kBF16), mean, rstd); },
               "layernorm_forward: out is bf16 but x is f32");
  expect_error([&] { ops.layernorm_forward(x, w, gpu_zeros({c}, DType::kBF16), kEps, out, mean, rstd); },
               "layernorm_forward: bias is bf16 but weight is f32");
  expect_error([&] { ops.layernorm_forward(x, gpu_zeros({c + 1}), b, kEps, out, mean, rstd); },
               "layernorm_forward: weight [9] does not match x's last dim 8");
  expect_error([&] { ops.layernorm_forward(x, w, b, kEps, out, gpu_zeros({n}, DType::kBF16), rstd); },
               "layernorm_forward: mean is bf16, expected f32");
  expect_error([&] { ops.layernorm_forward(x, w, b, kEps, out, gpu_zeros({n + 1}), rstd); },
               "must hold one value per row of x [3, 8] (3 rows)");
  expect_error([&] { ops.layernorm_backward_input(gpu_zeros({n, c}, DType::kBF16), x, w, mean, rstd, out); },
               "layernorm_backward_input: dout is bf16 but x is f32");
  expect_error([&] { ops.layernorm_backward_input(x, x, w, mean, rstd, gpu_zeros({n, c + 1})); },
               "layernorm_backward_input: dx [3, 9] does not match x [3, 8]");
  expect_error([&] { ops.layernorm_backward_weight(x, x, mean, rstd, gpu_zeros({c}, DType::kBF16), b); },
               "layernorm_backward_weight: dweight is bf16, expected f32");
  expect_error([&] { ops.layernorm_backward_weight(x, x, mean, rstd, w, Tensor::zeros({c})); },
               "layernorm_backward_weight: dbias is on cpu");
}

}  // namespace
}  // namespace trident
