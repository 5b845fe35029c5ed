// The GEMM micro-kernel of the tiled CPU kernels (causal attention): C[m, n] (+)= A[m, k] · B[k, n]
// on tiles that live in L1/L2 (m, k of a few tiles, n a head dimension or a tile width), where
// OpenBLAS's per-call packing and threading overheads cost more than the work (K = 32 attention
// GEMMs ran at 50-58 % of OpenBLAS's best through cblas_sgemm).
//
// Operands: A(i, l) = a[i·rs + l·cs], any strides, so one kernel multiplies by a tile or by its
// transpose; B's rows are vectors B(l, :) = b[l·ldb .. l·ldb + n) (contiguous within a row, rows
// ldb apart: a head's slice of the fused QKV rows works in place); C's rows are ldc apart. Only
// columns [0, n) of B and C are read or written (masked partial vectors), so n need not be a
// multiple of 16 and C may be a strided slice of a larger tensor.
//
// Register blocking: MR rows × NV vectors of 16 columns of C stay in registers across the k loop
// (6×4, 8×3 or 12×2 vectors: 24 accumulators of the 32 AVX-512 registers). Every C element is one
// chain of multiply-adds over l = 0..k-1 in order, whatever the blocking, so a recomputed tile
// equals the original bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "core/cpu/simd.h"

namespace trident::cpu {

namespace tile_detail {

// C[MR, NV·16] (+)= A[MR, k] · B[k, NV·16]; the last vector has `last` valid lanes (1..16).
template <int MR, int NV, bool kAccumulate>
inline void micro(std::int64_t k, const float* a, std::int64_t rs, std::int64_t cs, const float* b, std::int64_t ldb,
                  float* c, std::int64_t ldc, int last) {
  using namespace simd;
  Vec acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const float* ci = c + i * ldc + v * kWidth;
      acc[i][v] = !kAccumulate ? zero() : v == NV - 1 ? load_first(ci, last) : load(ci);
    }
  for (std::int64_t l = 0; l < k; ++l) {
    const float* bl = b + l * ldb;
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = v == NV - 1 ? load_first(bl + v * kWidth, last) : load(bl + v * kWidth);
    const float* al = a + l * cs;
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const Vec ai = set1(al[i * rs]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fma(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* ci = c + i * ldc + v * kWidth;
      if (v == NV - 1)
        store_first(ci, acc[i][v], last);
      else
        store(ci, acc[i][v]);
    }
}

// Rows per register block for NV vectors of columns: 24 accumulators.
template <int NV>
inline constexpr int kRows = NV <= 2 ? 12 : NV == 3 ? 8 : 6;

using MicroFn = void (*)(std::int64_t, const float*, std::int64_t, std::int64_t, const float*, std::int64_t, float*,
                         std::int64_t, int);

// micro<1..kRows<NV>> by row count, for the rows left over after whole register blocks.
template <int NV, bool kAccumulate, int... R>
constexpr std::array<MicroFn, sizeof...(R)> row_table(std::integer_sequence<int, R...>) {
  return {&micro<R + 1, NV, kAccumulate>...};
}

// All m rows of one column block of NV vectors, in ceil(m / MR) register blocks of balanced height
// (64 rows at MR = 12 go as 11+11+11+11+10+10, not 12·5 + 4: a short block wastes the loads of B).
template <int NV, bool kAccumulate>
inline void rows(std::int64_t m, std::int64_t k, const float* a, std::int64_t rs, std::int64_t cs, const float* b,
                 std::int64_t ldb, float* c, std::int64_t ldc, int last) {
  constexpr int MR = kRows<NV>;
  static constexpr auto table = row_table<NV, kAccumulate>(std::make_integer_sequence<int, MR>{});
  const std::int64_t blocks = (m + MR - 1) / MR;
  for (std::int64_t j = 0, i = 0; j < blocks; ++j) {
    const std::int64_t h = m * (j + 1) / blocks - i;  // 1 <= h <= MR
    if (h == MR)
      micro<MR, NV, kAccumulate>(k, a + i * rs, rs, cs, b, ldb, c + i * ldc, ldc, last);
    else
      table[static_cast<std::size_t>(h - 1)](k, a + i * rs, rs, cs, b, ldb, c + i * ldc, ldc, last);
    i += h;
  }
}

}  // namespace tile_detail

// C[m, n] = A[m, k] · B[k, n] (kAccumulate false) or C += A · B (true); see the file comment for
// the operand layouts. Columns go in blocks of up to 64.
template <bool kAccumulate>
inline void gemm_tile(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t rs, std::int64_t cs,
                      const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  using namespace tile_detail;
  constexpr std::int64_t kBlock = 4 * simd::kWidth;
  for (std::int64_t j = 0; j < n; j += kBlock) {
    const std::int64_t cols = n - j < kBlock ? n - j : kBlock;
    const int nv = static_cast<int>((cols + simd::kWidth - 1) / simd::kWidth);
    const int last = static_cast<int>(cols - (nv - 1) * simd::kWidth);
    switch (nv) {
      case 1: rows<1, kAccumulate>(m, k, a, rs, cs, b + j, ldb, c + j, ldc, last); break;
      case 2: rows<2, kAccumulate>(m, k, a, rs, cs, b + j, ldb, c + j, ldc, last); break;
      case 3: rows<3, kAccumulate>(m, k, a, rs, cs, b + j, ldb, c + j, ldc, last); break;
      default: rows<4, kAccumulate>(m, k, a, rs, cs, b + j, ldb, c + j, ldc, last); break;
    }
  }
}

}  // namespace trident::cpu
