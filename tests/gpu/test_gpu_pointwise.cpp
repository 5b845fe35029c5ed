// The CUDA table's memory ops (fill, copy, convert), pointwise ops, reductions, bias, GELU and
// AdamW against the CPU table on the same inputs, in f32 and bf16. Sizes include 1, 3 and
// 1000003 elements (not a multiple of any pack width, so the vector kernels' tails run) and
// views offset by one element (misaligned, so the element-by-element paths run too).
//
// Tolerances, stated where used, come from three facts:
// - bf16 keeps 8 significant bits, so rounding an f32 result to bf16 (nearest even) moves it by at
//   most 2^-8 of its magnitude (half an ulp of 2^-7 relative spacing): rtol 2^-8 ≈ 0.0039.
// - The same f32 operation sequence gives the same bits on both tables (IEEE add/mul); nvcc may
//   fuse a·b + c into one FMA (one rounding instead of two), a difference of ≤ 1 ulp (2^-24 rel.).
// - Values k/128 with |k| <= 128 are exact in bf16, and sums of up to 2^16 of them are exact in
//   f32 (they need ≤ 24 significant bits), so reductions over them must match the CPU exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using namespace gpu_test;

constexpr double kBf16Rtol = 0x1p-8;  // one rounding to bf16 (see the header)

// Flat sizes: 1 and 3 are shorter than a pack, 1000003 is prime (a tail for every pack width).
const std::int64_t kSizes[] = {1, 3, 4096, 1000003};

std::string name(DType dt) { return std::string(dtype_name(dt)); }

// Uniform inputs, exactly representable in `dtype` so both tables see the same numbers.
Tensor random_for(const Shape& shape, std::uint32_t seed, DType dtype, float lo = -1.0f, float hi = 1.0f) {
  return random_host(shape, seed, lo, hi, dtype == DType::kBF16);
}

// k/128 with k uniform in [-128, 128]: exact in bf16, and f32 sums of them are exact (header).
Tensor dyadic_host(const Shape& shape, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(-128, 128);
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(dist(gen)) / 128.0f;
  return t;
}

// Host copy of a GPU tensor in its own dtype (for bitwise comparisons).
Tensor to_host(const Tensor& t) { return t.to(Device::cpu()); }

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// ---- memory ---------------------------------------------------------------------------------------

TEST(GpuPointwise, FillEveryDtypeMatchesCpuBitwise) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : {DType::kF32, DType::kBF16, DType::kI32}) {
    for (const std::int64_t n : kSizes) {
      for (const float value : {0.0f, 1.0f, -2.75f, 0.1f, 3.9f}) {  // 0.1 rounds in bf16; 3.9 truncates to 3 in i32
        SCOPED_TRACE(name(dt) + " n=" + std::to_string(n) + " value=" + std::to_string(value));
        const Tensor d = gpu_empty({n}, dt);
        gpu_ops().fill(d, value);
        const Tensor expected = Tensor::empty({n}, dt);
        cpu_ops().fill(expected, value);
        EXPECT_TRUE(same_bytes(to_host(d), expected));
      }
    }
  }
}

TEST(GpuPointwise, FillOfAMisalignedViewLeavesItsNeighbours) {
  TRIDENT_REQUIRE_GPU();
  const Tensor d = gpu_zeros({1003}, DType::kBF16);
  gpu_ops().fill(d.slice0(1, 1002), 5.0f);
  const Tensor back = to_host_f32(d);
  EXPECT_EQ(back.data<float>()[0], 0.0f);
  EXPECT_EQ(back.data<float>()[1002], 0.0f);
  for (std::int64_t i = 1; i < 1002; ++i) ASSERT_EQ(back.data<float>()[i], 5.0f) << i;
}

TEST(GpuPointwise, CopyHostDeviceHostEveryDtype) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : {DType::kF32, DType::kBF16, DType::kI32}) {
    for (const std::int64_t n : kSizes) {
      SCOPED_TRACE(name(dt) + " n=" + std::to_string(n));
      Tensor h = Tensor::empty({n}, dt);
      auto* bytes = static_cast<unsigned char*>(h.raw());
      for (std::size_t i = 0; i < h.nbytes(); ++i) bytes[i] = static_cast<unsigned char>(i * 131 + 7);
      const Tensor d = gpu_empty({n}, dt);
      gpu_ops().copy(h, d);                             // host -> device
      const Tensor d2 = gpu_empty({n}, dt);
      gpu_ops().copy(d, d2);                            // device -> device
      const Tensor back = Tensor::empty({n}, dt);
      gpu_ops().copy(d2, back);                         // device -> host, readable at once
      EXPECT_TRUE(same_bytes(back, h));
    }
  }
}

TEST(GpuPointwise, CopyFromATemporaryHostBufferIsSafe) {
  TRIDENT_REQUIRE_GPU();
  // The host source dies (and its memory is reused) right after copy() returns: the copy must have
  // read it by then.
  const Tensor d = gpu_empty({1 << 20});
  {
    const Tensor h = random_host({1 << 20}, 5);
    d.copy_from(h);
  }
  Tensor junk = Tensor::empty({1 << 20});
  cpu_ops().fill(junk, -99.0f);
  expect_close(d, random_host({1 << 20}, 5), 0.0, 0.0, "copy of a freed host buffer");
}

TEST(GpuPointwise, CopyBetweenOverlappingViewsActsLikeMemmove) {
  TRIDENT_REQUIRE_GPU();
  const Tensor h = random_host({1000}, 9);
  for (const bool forward : {true, false}) {
    SCOPED_TRACE(forward ? "dst after src" : "dst before src");
    const Tensor d = h.to(gpu());
    const Tensor cpu = h.clone();
    const std::int64_t s = forward ? 0 : 3, t = forward ? 3 : 0;
    gpu_ops().copy(d.slice0(s, s + 900), d.slice0(t, t + 900));
    cpu_ops().copy(cpu.slice0(s, s + 900), cpu.slice0(t, t + 900));
    expect_close(d, cpu, 0.0, 0.0, "overlapping copy");
  }
}

TEST(GpuPointwise, ConvertMatchesCpuRoundingBitwise) {
  TRIDENT_REQUIRE_GPU();
  // Random values plus the cases rounding gets wrong most easily: ties to even in both
  // directions, values that round up into the next binade or to infinity, denormals, signed zero,
  // infinities and NaN.
  std::vector<float> special;
  for (const std::uint32_t bits : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x3fffffffu, 0x7f7fffffu, 0x00000001u,
                                   0x00018000u, 0x807fffffu, 0x80000000u, 0x00000000u, 0x7f800000u, 0xff800000u,
                                   0x7fc00000u, 0x7f800001u, 0xffc12345u}) {
    float f;
    std::memcpy(&f, &bits, 4);
    special.push_back(f);
  }
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE("n=" + std::to_string(n));
    Tensor h = random_host({n}, 11, -1000.0f, 1000.0f);
    for (std::size_t i = 0; i < special.size() && static_cast<std::int64_t>(i) < n; ++i) h.data<float>()[i] = special[i];
    for (const bool offset : {false, true}) {
      SCOPED_TRACE(offset ? "misaligned" : "aligned");
      const Tensor src = offset ? misaligned_gpu(h, DType::kF32) : h.to(gpu());
      const Tensor bf = gpu_empty({n}, DType::kBF16);
      gpu_ops().convert(src, bf);
      Tensor expected_bf = Tensor::empty({n}, DType::kBF16);
      cpu_ops().convert(h, expected_bf);
      EXPECT_TRUE(same_bytes(to_host(bf), expected_bf)) << "f32 -> bf16";
      const Tensor back = gpu_empty({n});
      gpu_ops().convert(bf, back);
      Tensor expected_back = Tensor::empty({n});
      cpu_ops().convert(expected_bf, expected_back);
      EXPECT_TRUE(same_bytes(to_host(back), expected_back)) << "bf16 -> f32";
    }
  }
}

TEST(GpuPointwise, ConvertSameDtypeCopiesAcrossShapes) {
  TRIDENT_REQUIRE_GPU();
  const Tensor h = random_host({6, 7}, 12);
  const Tensor dst = gpu_empty({42});
  gpu_ops().convert(h.to(gpu()), dst);
  expect_close(dst, h.view({42}), 0.0, 0.0, "same-dtype convert");
}

// ---- add / axpy / scale ---------------------------------------------------------------------------

TEST(GpuPointwise, AddMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const std::int64_t n : kSizes) {
      for (const bool offset : {false, true}) {
        SCOPED_TRACE(name(dt) + " n=" + std::to_string(n) + (offset ? " misaligned" : ""));
        const Tensor a = random_for({n}, 1, dt), b = random_for({n}, 2, dt);
        Tensor expected = Tensor::empty({n});
        cpu_ops().add(a, b, expected);
        const Tensor da = offset ? misaligned_gpu(a, dt) : to_gpu(a, dt);
        const Tensor db = to_gpu(b, dt);
        const Tensor out = gpu_empty({n}, dt);
        gpu_ops().add(da, db, out);
        // f32: one IEEE add on both sides, exact. bf16: the same f32 sum, rounded once.
        expect_close(out, expected, 0.0, dt == DType::kBF16 ? kBf16Rtol : 0.0, "add");
        gpu_ops().add(da, db, da);  // out aliases a
        expect_close(da, expected, 0.0, dt == DType::kBF16 ? kBf16Rtol : 0.0, "add into a");
      }
    }
  }
}

TEST(GpuPointwise, AxpyEveryDtypeMix) {
  TRIDENT_REQUIRE_GPU();
  const float alpha = -0.7f;
  for (const DType xdt : kFloatDtypes) {
    for (const DType ydt : kFloatDtypes) {
      for (const std::int64_t n : kSizes) {
        for (const bool offset : {false, true}) {
          SCOPED_TRACE("x " + name(xdt) + " y " + name(ydt) + " n=" + std::to_string(n) + (offset ? " misaligned" : ""));
          const Tensor x = random_for({n}, 3, xdt), y = random_for({n}, 4, ydt);
          Tensor expected = y.clone();
          cpu_ops().axpy(alpha, x, expected);
          const Tensor dy = offset ? misaligned_gpu(y, ydt) : to_gpu(y, ydt);
          gpu_ops().axpy(alpha, to_gpu(x, xdt), dy);
          // f32 y: y + α·x may be one FMA on the GPU (the CPU rounds α·x first): they differ by
          // ≤ 2^-24·(|α·x| + |y + α·x|) ≤ 2^-24·2.4 < 2^-22. bf16 y: that, then one rounding.
          expect_close(dy, expected, 0x1p-21, ydt == DType::kBF16 ? kBf16Rtol : 0.0, "axpy");
        }
      }
    }
  }
}

TEST(GpuPointwise, ScaleMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const std::int64_t n : kSizes) {
      SCOPED_TRACE(name(dt) + " n=" + std::to_string(n));
      const Tensor x = random_for({n}, 5, dt);
      Tensor expected = x.clone();
      cpu_ops().scale(expected, 1.3f);
      const Tensor d = to_gpu(x, dt);
      gpu_ops().scale(d, 1.3f);
      // One IEEE multiply (exact match in f32), then one rounding for bf16.
      expect_close(d, expected, 0.0, dt == DType::kBF16 ? kBf16Rtol : 0.0, "scale");
    }
  }
}

// ---- reductions -----------------------------------------------------------------------------------

TEST(GpuPointwise, SumAndSumSquaresAreExactOnDyadicValues) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const std::int64_t n : kSizes) {
      for (const bool offset : {false, true}) {
        SCOPED_TRACE(name(dt) + " n=" + std::to_string(n) + (offset ? " misaligned" : ""));
        const Tensor x = dyadic_host({n}, 6);
        const Tensor d = offset ? misaligned_gpu(x, dt) : to_gpu(x, dt);
        // Every partial sum is exact in f32 and in double on both sides (see the header).
        EXPECT_EQ(gpu_ops().sum(d), cpu_ops().sum(x));
        EXPECT_EQ(gpu_ops().sum_squares(d), cpu_ops().sum_squares(x));
      }
    }
  }
}

TEST(GpuPointwise, SumAndSumSquaresOnRandomValues) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const std::int64_t n : kSizes) {
      SCOPED_TRACE(name(dt) + " n=" + std::to_string(n));
      const Tensor x = random_for({n}, 7, dt, -3.0f, 5.0f);
      double abs_sum = 0.0, sq_sum = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        abs_sum += std::fabs(x.data<float>()[i]);
        sq_sum += static_cast<double>(x.data<float>()[i]) * x.data<float>()[i];
      }
      const Tensor d = to_gpu(x, dt);
      // The GPU adds each 16-byte pack (≤ 8 terms, squares rounded once) in f32 before going to
      // double: error ≤ 8·2^-24 of the summed magnitudes; 2^-20 leaves a factor 2.
      EXPECT_NEAR(gpu_ops().sum(d), cpu_ops().sum(x), 0x1p-20 * abs_sum);
      EXPECT_NEAR(gpu_ops().sum_squares(d), cpu_ops().sum_squares(x), 0x1p-20 * sq_sum);
    }
  }
}

TEST(GpuPointwise, SumOfEmptyTensorIsZero) {
  TRIDENT_REQUIRE_GPU();
  const Tensor d = gpu_empty({0, 4});
  EXPECT_EQ(gpu_ops().sum(d), 0.0);
  EXPECT_EQ(gpu_ops().sum_squares(d), 0.0);
}

// ---- bias ----------------------------------------------------------------------------------------

struct Rows {
  std::int64_t n, c;
};
// C = 1 and 5 (no vector path), 33 (odd), 768 and 3072 (GPT-2 widths), and a wide row like the
// position table viewed as [B, S·C].
const Rows kBiasShapes[] = {{1, 1}, {3, 5}, {7, 33}, {64, 768}, {2048, 3072}, {2, 3 * 16384}};

TEST(GpuPointwise, BiasAddEveryDtypeMix) {
  TRIDENT_REQUIRE_GPU();
  for (const DType xdt : kFloatDtypes) {
    for (const DType bdt : kFloatDtypes) {
      for (const Rows& r : kBiasShapes) {
        SCOPED_TRACE("x " + name(xdt) + " bias " + name(bdt) + " [" + std::to_string(r.n) + ", " +
                     std::to_string(r.c) + "]");
        const Tensor x = random_for({r.n, r.c}, 8, xdt), bias = random_for({r.c}, 9, bdt);
        Tensor expected = x.clone();
        cpu_ops().bias_add(expected, bias);
        const Tensor d = to_gpu(x, xdt);
        gpu_ops().bias_add(d, to_gpu(bias, bdt));
        // One IEEE add (exact in f32), then one rounding for a bf16 x.
        expect_close(d, expected, 0.0, xdt == DType::kBF16 ? kBf16Rtol : 0.0, "bias_add");
      }
    }
  }
}

TEST(GpuPointwise, BiasAddOnMisalignedRows) {
  TRIDENT_REQUIRE_GPU();
  const Tensor x = random_host({5, 8}, 10), bias = random_host({8}, 11);
  Tensor expected = x.clone();
  cpu_ops().bias_add(expected, bias);
  const Tensor d = misaligned_gpu(x, DType::kF32);
  gpu_ops().bias_add(d, bias.to(gpu()));
  expect_close(d, expected, 0.0, 0.0, "bias_add on an offset view");
}

TEST(GpuPointwise, BiasBackwardIsExactOnDyadicValues) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const Rows& r : kBiasShapes) {
      SCOPED_TRACE(name(dt) + " [" + std::to_string(r.n) + ", " + std::to_string(r.c) + "]");
      const Tensor dout = dyadic_host({r.n, r.c}, 12), dbias0 = dyadic_host({r.c}, 13);
      Tensor expected = dbias0.clone();
      cpu_ops().bias_backward(dout, expected);  // accumulates into the existing gradient
      const Tensor d = dbias0.to(gpu());
      gpu_ops().bias_backward(to_gpu(dout, dt), d);
      // Column sums of ≤ 2048 values k/128 and the accumulation are exact in f32 (header).
      expect_close(d, expected, 0.0, 0.0, "bias_backward");
    }
  }
}

TEST(GpuPointwise, BiasBackwardOnRandomValues) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const Rows& r : {Rows{1000, 37}, Rows{4096, 768}}) {
      SCOPED_TRACE(name(dt) + " [" + std::to_string(r.n) + ", " + std::to_string(r.c) + "]");
      const Tensor dout = random_for({r.n, r.c}, 14, dt), dbias0 = random_host({r.c}, 15);
      Tensor expected = dbias0.clone();
      cpu_ops().bias_backward(dout, expected);
      const Tensor d = dbias0.to(gpu());
      gpu_ops().bias_backward(to_gpu(dout, dt), d);
      // The GPU sums a column in f32 chains of ≤ 12 rows for these shapes, then 8 lanes in f32,
      // then the chains in double. Worst case (every rounding the same way) is 20·2^-24·Σ|dout|
      // ≈ 2.4e-3 for Σ|dout| ≈ 2048; random roundings grow like √20, ~1e-5 here. atol 1e-3 keeps a
      // 100x margin on that and still flags a dropped or doubled row (|dout| ~ 0.5).
      expect_close(d, expected, 1e-3, 1e-6, "bias_backward");
    }
  }
}

// ---- GELU ----------------------------------------------------------------------------------------

TEST(GpuPointwise, GeluForwardAndBackwardMatchCpu) {
  TRIDENT_REQUIRE_GPU();
  for (const DType dt : kFloatDtypes) {
    for (const std::int64_t n : kSizes) {
      SCOPED_TRACE(name(dt) + " n=" + std::to_string(n));
      const Tensor x = random_for({n}, 16, dt, -5.0f, 5.0f), dout = random_for({n}, 17, dt);
      Tensor out = Tensor::empty({n}), dx = Tensor::empty({n});
      cpu_ops().gelu_forward(x, out);
      cpu_ops().gelu_backward(dout, x, dx);
      const Tensor gx = to_gpu(x, dt);
      const Tensor gout = gpu_empty({n}, dt), gdx = gpu_empty({n}, dt);
      gpu_ops().gelu_forward(gx, gout);
      gpu_ops().gelu_backward(to_gpu(dout, dt), gx, gdx);
      const double rtol = dt == DType::kBF16 ? kBf16Rtol : 0.0;
      // tanhf (≤ 2 ulp) vs the CPU's fast_tanh (|error| ~1e-7): out moves by ≤ 0.5·|x|·2e-7 ≤ 5e-7
      // for |x| ≤ 5, plus f32 rounding; atol 2e-6, rtol 1e-6 (or one bf16 rounding).
      expect_close(gout, out, 2e-6, rtol + 1e-6, "gelu_forward");
      // ∂gelu'/∂t = 0.5 − x·t·√(2/π)·(1 + 3·0.044715·x²), at most ~18 in size for |x| ≤ 5, so the
      // tanh difference moves dx by ≤ 18·2e-7 ≈ 4e-6 with |dout| ≤ 1; atol 1e-5.
      expect_close(gdx, dx, 1e-5, rtol + 1e-5, "gelu_backward");
    }
  }
}

// ---- AdamW ---------------------------------------------------------------------------------------

TEST(GpuPointwise, AdamWSeveralStepsMatchCpu) {
  TRIDENT_REQUIRE_GPU();
  for (const std::int64_t n : kSizes) {
    for (const bool offset : {false, true}) {
      SCOPED_TRACE("n=" + std::to_string(n) + (offset ? " misaligned" : ""));
      const Tensor param = random_host({n}, 18);
      Tensor cp = param.clone(), cm = Tensor::zeros({n}), cv = Tensor::zeros({n});
      const Tensor gp = offset ? misaligned_gpu(param, DType::kF32) : param.to(gpu());
      const Tensor gm = gpu_zeros({n}), gv = gpu_zeros({n});
      AdamWParams p;
      p.lr = 1e-2f;
      p.weight_decay = 0.1f;
      for (std::int64_t step = 1; step <= 5; ++step) {
        p.step = step;
        const Tensor grad = random_host({n}, 100 + static_cast<std::uint32_t>(step), -2.0f, 2.0f);
        cpu_ops().adamw_update(cp, grad, cm, cv, p);
        gpu_ops().adamw_update(gp, grad.to(gpu()), gm, gv, p);
      }
      // Same f32 formula; per step the GPU may differ by an FMA contraction or a last-ulp sqrt/div
      // (the CPU's fast_sqrt is ≤ 1 ulp): a few 2^-24 relative on m and v, and on param a few ulp
      // of the lr-sized update plus of |param| ≤ 1 — over 5 steps well within 1e-6.
      expect_close(gp, cp, 1e-6, 1e-6, "param");
      expect_close(gm, cm, 1e-6, 1e-6, "m");
      expect_close(gv, cv, 1e-7, 1e-6, "v");
    }
  }
}

// ---- errors --------------------------------------------------------------------------------------

TEST(GpuPointwise, RejectsHostTensorsWrongDtypesAndShapes) {
  TRIDENT_REQUIRE_GPU();
  const Ops& ops = gpu_ops();
  const Tensor a = gpu_zeros({4, 8});
  const Tensor b16 = gpu_zeros({4, 8}, DType::kBF16);
  const Tensor host = Tensor::zeros({4, 8});
  const Tensor ids = gpu_zeros({4, 8}, DType::kI32);
  const Tensor other = gpu_zeros({8, 4});

  expect_error([&] { ops.add(a, host, a); }, "add: b is on cpu");
  expect_error([&] { ops.add(a, ids, a); }, "add: b is i32");
  expect_error([&] { ops.add(a, b16, a); }, "add: b is bf16 but a is f32");
  expect_error([&] { ops.add(a, other, a); }, "add: b [8, 4] does not match a [4, 8]");
  expect_error([&] { ops.axpy(1.0f, a, other); }, "axpy: y [8, 4] does not match x [4, 8]");
  expect_error([&] { ops.scale(host, 2.0f); }, "scale: x is on cpu");
  expect_error([&] { (void)ops.sum(ids); }, "sum: x is i32");
  expect_error([&] { (void)ops.sum_squares(host); }, "sum_squares: x is on cpu");
  expect_error([&] { ops.bias_add(a, gpu_zeros({4})); }, "does not match x's last dim 8");
  expect_error([&] { ops.bias_add(a, gpu_zeros({2, 4})); }, "must be 1-D");
  expect_error([&] { ops.bias_backward(a, gpu_zeros({8}, DType::kBF16)); }, "expected f32");
  expect_error([&] { ops.gelu_forward(a, b16); }, "gelu_forward: out is bf16 but x is f32");
  expect_error([&] { ops.gelu_backward(a, a, other); }, "gelu_backward: dx [8, 4] does not match x [4, 8]");
  expect_error([&] { ops.adamw_update(b16, a, a, a, AdamWParams{}); }, "adamw_update: param is bf16, expected f32");
  expect_error([&] { ops.adamw_update(a, a, other, a, AdamWParams{}); }, "m [8, 4] does not match param [4, 8]");
  AdamWParams zero_step;
  zero_step.step = 0;
  expect_error([&] { ops.adamw_update(a, a, a, a, zero_step); }, "step is 1-based");
  expect_error([&] { ops.fill(host, 1.0f); }, "fill: x is on cpu");
  expect_error([&] { ops.copy(a, other); }, "copy: source [4, 8] f32 does not match destination [8, 4] f32");
  expect_error([&] { ops.copy(a, b16); }, "does not match destination [4, 8] bf16");
  expect_error([&] { ops.copy(host, Tensor::zeros({4, 8})); }, "both tensors are on the host");
  expect_error([&] { ops.convert(ids, a); }, "convert: i32 -> f32 is not supported");
  expect_error([&] { ops.convert(a, gpu_zeros({5}, DType::kBF16)); }, "differ in size");
  expect_error([&] { ops.convert(host, b16); }, "convert: src is on cpu");
}

}  // namespace
}  // namespace trident
