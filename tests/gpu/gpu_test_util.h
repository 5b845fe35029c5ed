// Helpers shared by the GPU tests. Every GPU test starts with TRIDENT_REQUIRE_GPU(), which
// reports the test as *skipped* with the probe's reason ("no usable CUDA device: CUDA driver
// version is insufficient…", or "this build has no CUDA backend …") when no GPU can be used; CTest shows those as
// skipped (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt), never as passed.
//
// Op tests run the same inputs through the CPU table (f32) and the GPU table (f32 or bf16) and
// compare: expect_close(gpu, cpu, atol, rtol) with |gpu − cpu| <= atol + rtol·|cpu| per element.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "core/cuda_probe.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "tests/cpu_ops_test_util.h"

namespace trident::gpu_test {

// Bad-operand tests check messages as the CPU op tests do, and build i32 id tensors the same way.
using testing_util::expect_error;
using testing_util::ids_tensor;

#define TRIDENT_REQUIRE_GPU()                                                                  \
  do {                                                                                         \
    if (!::trident::cuda_probe().available)                                                    \
      GTEST_SKIP() << "GPU test skipped: " << ::trident::cuda_probe().reason;                  \
  } while (0)

inline Device gpu() { return Device::cuda(0); }
inline const Ops& cpu_ops() { return ops_for(Device::cpu()); }
inline const Ops& gpu_ops() { return ops_for(gpu()); }

// The activation dtypes every float op is tested in.
inline constexpr DType kFloatDtypes[] = {DType::kF32, DType::kBF16};

inline Tensor gpu_empty(const Shape& shape, DType dtype = DType::kF32) { return Tensor::empty(shape, dtype, gpu()); }
inline Tensor gpu_zeros(const Shape& shape, DType dtype = DType::kF32) { return Tensor::zeros(shape, dtype, gpu()); }

// Uniform values in [lo, hi) on the host, f32; rounded through bf16 when `bf16_exact` so that the
// CPU reference and a bf16 GPU input hold exactly the same numbers.
inline Tensor random_host(const Shape& shape, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f,
                          bool bf16_exact = false) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const float v = dist(gen);
    p[i] = bf16_exact ? from_bf16(to_bf16(v)) : v;
  }
  return t;
}

// A host f32 tensor on the GPU as `dtype` (f32 or bf16).
inline Tensor to_gpu(const Tensor& host_f32, DType dtype) {
  if (dtype == DType::kF32) return host_f32.to(gpu());
  Tensor h = Tensor::empty(host_f32.shape(), dtype);
  cpu_ops().convert(host_f32, h);
  return h.to(gpu());
}

// host_f32 on the GPU as `dtype`, in a view whose first element sits one element past a 16-byte
// boundary ([1, 1 + n) of a larger buffer), so every vectorised kernel path falls back to single
// elements.
inline Tensor misaligned_gpu(const Tensor& host_f32, DType dtype) {
  const std::int64_t n = host_f32.numel();
  Tensor padded = Tensor::empty({n + 1}, DType::kF32);
  padded.data<float>()[0] = 0.0f;
  std::memcpy(padded.data<float>() + 1, host_f32.data<float>(), static_cast<std::size_t>(n) * sizeof(float));
  return to_gpu(padded, dtype).slice0(1, n + 1).view(host_f32.shape());
}

// A GPU tensor back on the host as f32 (whatever its dtype).
inline Tensor to_host_f32(const Tensor& t) {
  Tensor h = t.to(Device::cpu());
  if (h.dtype() == DType::kF32) return h;
  Tensor f = Tensor::empty(h.shape());
  cpu_ops().convert(h, f);
  return f;
}

// Element-wise |actual − expected| <= atol + rtol·|expected|; reports the worst element.
inline void expect_close(const Tensor& actual_any, const Tensor& expected_host, double atol, double rtol,
                         const std::string& what) {
  const Tensor actual = actual_any.device().is_cpu() && actual_any.dtype() == DType::kF32 ? actual_any
                                                                                          : to_host_f32(actual_any);
  ASSERT_EQ(actual.numel(), expected_host.numel()) << what;
  const float* a = actual.data<float>();
  const float* e = expected_host.data<float>();
  std::int64_t worst = -1;
  double worst_excess = 0.0;
  for (std::int64_t i = 0; i < actual.numel(); ++i) {
    const double diff = std::fabs(static_cast<double>(a[i]) - e[i]);
    const double allowed = atol + rtol * std::fabs(static_cast<double>(e[i]));
    if (!(diff <= allowed) && (worst < 0 || diff - allowed > worst_excess)) {
      worst = i;
      worst_excess = std::isnan(diff) ? INFINITY : diff - allowed;
    }
  }
  EXPECT_LT(worst, 0) << what << ": element " << worst << " is " << (worst >= 0 ? a[worst] : 0.0f) << ", expected "
                      << (worst >= 0 ? e[worst] : 0.0f) << " (atol " << atol << ", rtol " << rtol << ")";
}

}  // namespace trident::gpu_test
