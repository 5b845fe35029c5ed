// 16-lane f32 vectors for the CPU kernels that need explicit SIMD (the tiled attention and its
// GEMM micro-kernel). Two implementations behind one interface, chosen at compile time:
// - AVX-512F intrinsics when the build targets it (TRIDENT_NATIVE on a machine that has it): fused
//   multiply-adds, masked partial loads and stores, exp via scalef;
// - otherwise a portable 16-float struct whose per-lane loops GCC vectorises for whatever the target
//   has (AVX2, SSE2); whether a multiply-add is fused is then the compiler's choice, so the two
//   paths agree to rounding, not bit for bit; each is deterministic on its own.
#pragma once

#include <cstdint>
#include <limits>

#include "core/cpu/cpu_math.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace trident::cpu::simd {

inline constexpr int kWidth = 16;

// exp(x) = 2^r · e^f with r = round(x / ln2) and |f| <= ln2/2: the constants of cpu::fast_exp.
inline constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723e-6f;
inline constexpr float kExpLo = -87.3f, kExpHi = 88.3f;  // below kExpLo exp is 0 (exp(-inf) = 0)

#if defined(__AVX512F__)

inline constexpr bool kAvx512 = true;

struct Vec {
  __m512 v;
};

// The all-lanes mask. Full-width operations use the zero-masked intrinsics with it: GCC 12's plain
// _mm512_max_ps / _min_ps / _roundscale_ps / _scalef_ps pass an "undefined" source that
// -Wmaybe-uninitialized reports as a false positive.
inline constexpr __mmask16 kAll = 0xFFFF;

// Lanes [0, n) set, n clamped to [0, 16].
inline __mmask16 first_lanes(int n) {
  return n >= kWidth ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

inline Vec zero() { return {_mm512_setzero_ps()}; }
inline Vec set1(float x) { return {_mm512_set1_ps(x)}; }
inline Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
// Lanes [0, n) from p, zero above; reads nothing at or past p + n.
inline Vec load_first(const float* p, int n) { return {_mm512_maskz_loadu_ps(first_lanes(n), p)}; }
inline void store(float* p, Vec a) { _mm512_storeu_ps(p, a.v); }
// Writes lanes [0, n) only.
inline void store_first(float* p, Vec a, int n) { _mm512_mask_storeu_ps(p, first_lanes(n), a.v); }
inline Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
inline Vec sub(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec max(Vec a, Vec b) { return {_mm512_maskz_max_ps(kAll, a.v, b.v)}; }
inline Vec div(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }  // a·b + c
// Lanes [0, n) replaced by `value` (the causal mask on a tile row).
inline Vec fill_first(Vec a, int n, float value) { return {_mm512_mask_mov_ps(a.v, first_lanes(n), set1(value).v)}; }

// dst row j (16 rows, ldd apart) = scale · column j of the 16 x 16 block src (rows lds apart):
// unpack pairs, then 64-bit shuffles, then two rounds of 128-bit lane shuffles.
inline void transpose16(const float* src, std::int64_t lds, float scale, float* dst, std::int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_maskz_shuffle_ps(kAll, t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_maskz_shuffle_ps(kAll, t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_maskz_shuffle_ps(kAll, t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_maskz_shuffle_ps(kAll, t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_maskz_shuffle_f32x4(kAll, r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_maskz_shuffle_f32x4(kAll, r[h + i], r[h + i + 4], 0xDD);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_maskz_shuffle_f32x4(kAll, t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_maskz_shuffle_f32x4(kAll, t[i], t[i + 8], 0xDD);
  }
  const __m512 sv = _mm512_set1_ps(scale);
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, _mm512_mul_ps(r[i], sv));
}

inline Vec exp(Vec x) {
  const __m512 xc = _mm512_maskz_min_ps(kAll, _mm512_maskz_max_ps(kAll, x.v, set1(kExpLo).v), set1(kExpHi).v);
  const __m512 r = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(xc, set1(kLog2e).v),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(r, set1(kLn2Hi).v, xc);
  f = _mm512_fnmadd_ps(r, set1(kLn2Lo).v, f);
  __m512 p = set1(1.0f / 5040.0f).v;
  p = _mm512_fmadd_ps(p, f, set1(1.0f / 720.0f).v);
  p = _mm512_fmadd_ps(p, f, set1(1.0f / 120.0f).v);
  p = _mm512_fmadd_ps(p, f, set1(1.0f / 24.0f).v);
  p = _mm512_fmadd_ps(p, f, set1(1.0f / 6.0f).v);
  p = _mm512_fmadd_ps(p, f, set1(0.5f).v);
  p = _mm512_fmadd_ps(p, f, set1(1.0f).v);
  p = _mm512_fmadd_ps(p, f, set1(1.0f).v);
  const __mmask16 under = _mm512_cmp_ps_mask(x.v, set1(kExpLo).v, _CMP_LT_OQ);
  return {_mm512_mask_mov_ps(_mm512_maskz_scalef_ps(kAll, p, r), under, _mm512_setzero_ps())};
}

#else  // portable

inline constexpr bool kAvx512 = false;

struct Vec {
  float v[kWidth];
};

inline Vec set1(float x) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = x;
  return r;
}
inline Vec zero() { return set1(0.0f); }
inline Vec load(const float* p) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = p[i];
  return r;
}
inline Vec load_first(const float* p, int n) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = i < n ? p[i] : 0.0f;
  return r;
}
inline void store(float* p, Vec a) {
  for (int i = 0; i < kWidth; ++i) p[i] = a.v[i];
}
inline void store_first(float* p, Vec a, int n) {
  for (int i = 0; i < kWidth && i < n; ++i) p[i] = a.v[i];
}
#define TRIDENT_SIMD_LANEWISE(name, expr)  \
  inline Vec name(Vec a, Vec b) {          \
    Vec r;                                 \
    for (int i = 0; i < kWidth; ++i) {     \
      const float x = a.v[i], y = b.v[i];  \
      r.v[i] = (expr);                     \
    }                                      \
    return r;                              \
  }
TRIDENT_SIMD_LANEWISE(add, x + y)
TRIDENT_SIMD_LANEWISE(sub, x - y)
TRIDENT_SIMD_LANEWISE(mul, x * y)
TRIDENT_SIMD_LANEWISE(max, x < y ? y : x)
TRIDENT_SIMD_LANEWISE(div, x / y)
#undef TRIDENT_SIMD_LANEWISE
inline Vec fma(Vec a, Vec b, Vec c) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
  return r;
}
inline Vec fill_first(Vec a, int n, float value) {
  for (int i = 0; i < kWidth; ++i)
    if (i < n) a.v[i] = value;
  return a;
}
inline void transpose16(const float* src, std::int64_t lds, float scale, float* dst, std::int64_t ldd) {
  for (int j = 0; j < kWidth; ++j)
    for (int i = 0; i < kWidth; ++i) dst[j * ldd + i] = scale * src[i * lds + j];
}
inline Vec exp(Vec x) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = fast_exp(x.v[i]);
  return r;
}

#endif

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace trident::cpu::simd
