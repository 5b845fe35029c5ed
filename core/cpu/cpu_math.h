// Scalar building blocks the CPU kernels inline into their loops. Written so GCC vectorises them
// without -ffast-math: exp/tanh avoid libm calls (which stay scalar), and reductions keep
// independent lane accumulators because the compiler may not reorder a single float sum.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

namespace trident::cpu {

// exp(x) to ~1 ulp: x = n·ln2 + f with |f| <= ln2/2, exp(f) by a degree-7 Taylor polynomial,
// 2^n built in the exponent bits. Returns 0 below the normal range (so exp(-inf) = 0) and keeps NaN.
inline float fast_exp(float x) {
  const float xc = std::min(std::max(x, -87.3f), 88.3f);
  const float r = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2)
  float f = xc - r * 0.693145751953125f;                                    // ln2 split in two parts
  f = f - r * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * f + 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<std::int32_t>(r) + 127) << 23);
  return x < -87.3f ? 0.0f : p * scale;
}

// tanh(y) = (e^{2y} - 1) / (e^{2y} + 1); |tanh(9)| rounds to 1 in f32, so clamping there is exact.
// Absolute error ~1e-7 (relative error grows for tiny |y|, harmless where it feeds 1 + tanh).
inline float fast_tanh(float y) {
  const float e = fast_exp(2.0f * std::min(std::max(y, -9.0f), 9.0f));
  return (e - 1.0f) / (e + 1.0f);
}

// √x for x >= 0 to <= 1 ulp (std::sqrt stays scalar without -fno-math-errno, as it may set errno):
// the bit-trick estimate of 1/√x, two Newton steps on it, one on √x. Tiny x is scaled into the
// normal range first; +inf and NaN pass through.
inline float fast_sqrt(float x) {
  const bool tiny = x < 0x1p-100f;
  const float xs = tiny ? x * 0x1p100f : x;
  float y = std::bit_cast<float>(0x5f375a86 - (std::bit_cast<std::int32_t>(xs) >> 1));  // 1/√x to 3.5e-3
  const float hx = 0.5f * xs;
  y = y * (1.5f - hx * y * y);
  y = y * (1.5f - hx * y * y);
  const float r = xs * y;
  const float s = r + 0.5f * y * (xs - r * r);
  return tiny ? s * 0x1p-50f : (xs == std::numeric_limits<float>::infinity() ? xs : s);
}

inline constexpr int kLanes = 16;  // one AVX-512 register of f32

inline float lane_sum(const float* x, std::int64_t n) {
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += x[i];
  return s;
}

inline float lane_dot(const float* x, const float* y, std::int64_t n) {
  float acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j] * y[i + j];
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// A float max reduction does not vectorise without -ffinite-math-only (NaN ordering), so this one
// is written with GCC/Clang vector extensions: one 16-wide compare-and-select per step.
inline float lane_max(const float* x, std::int64_t n) {
  typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
  Vec acc;
  for (int j = 0; j < kLanes; ++j) acc[j] = -std::numeric_limits<float>::infinity();
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Vec v;
    std::memcpy(&v, x + i, sizeof v);
    acc = v > acc ? v : acc;
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < kLanes; ++j) m = std::max(m, static_cast<float>(acc[j]));
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// Σ_j exp(x_j - shift) over one row, summed in lanes; with kStore the exponentials also go
// to out (which may be x itself: softmax in place).
template <bool kStore>
inline float exp_sum(const float* x, float shift, std::int64_t n, float* out) {
  float acc[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float e = fast_exp(x[j + l] - shift);
      if constexpr (kStore) out[j + l] = e;
      acc[l] += e;
    }
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  for (; j < n; ++j) {
    const float e = fast_exp(x[j] - shift);
    if constexpr (kStore) out[j] = e;
    s += e;
  }
  return s;
}

// Double accumulation for long reductions (whole-tensor sums, gradient norms).
template <bool kSquare>
inline double lane_sum_double(const float* x, std::int64_t n) {
  constexpr int L = 8;
  double acc[L] = {};
  std::int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) {
      const double v = x[i + j];
      acc[j] += kSquare ? v * v : v;
    }
  double s = 0.0;
  for (int j = 0; j < L; ++j) s += acc[j];
  for (; i < n; ++i) s += kSquare ? double(x[i]) * x[i] : double(x[i]);
  return s;
}

}  // namespace trident::cpu
