// GEMMs through OpenBLAS (row-major cblas_sgemm). Tensors are contiguous, so a rank > 2 tensor is
// its as_2d() view and the leading dimension of a 2-D operand is its column count.
#include <cblas.h>

#include <algorithm>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_ops.h"
#include "core/gemm_checks.h"

namespace trident {

namespace {

CBLAS_TRANSPOSE blas_trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// C = beta * C for K == 0, where there is no product to add (beta == 0 clears NaN garbage too).
void scale_only(float* c, std::int64_t n, float beta) {
  if (beta == 0.0f) {
    std::fill_n(c, n, 0.0f);
  } else {
    for (std::int64_t i = 0; i < n; ++i) c[i] *= beta;
  }
}

}  // namespace

// c[M, N] = alpha * op(a) · op(b) + beta * c; a is [M, K] ([K, M] if trans_a), b is [K, N] ([N, K] if trans_b).
void CpuOps::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                  const Tensor& c) const {
  cpu::check_f32("gemm", "a", a);
  cpu::check_f32("gemm", "b", b);
  cpu::check_f32("gemm", "c", c);
  const GemmMatrices g = check_gemm(trans_a, trans_b, a, b, c);
  const Tensor& a2 = g.a2;
  const Tensor& b2 = g.b2;
  const Tensor& c2 = g.c2;
  const std::int64_t m = g.m, n = g.n, k = g.k;
  if (m == 0 || n == 0) return;
  float* cp = c2.data<float>();
  if (k == 0) return scale_only(cp, m * n, beta);
  cblas_sgemm(CblasRowMajor, blas_trans(trans_a), blas_trans(trans_b), static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a2.data<float>(), static_cast<int>(a2.dim(1)), b2.data<float>(),
              static_cast<int>(b2.dim(1)), beta, cp, static_cast<int>(n));
}

namespace {

// A host f32 operand whose batch fits (core/gemm_checks.h).
void check_extent(const char* name, const Tensor& t, std::int64_t batch, std::int64_t stride, std::int64_t rows,
                  std::int64_t cols, std::int64_t ld) {
  cpu::check_f32("gemm_strided_batched", name, t);
  check_gemm_batch_operand(name, t, batch, stride, rows, cols, ld);
}

}  // namespace

void CpuOps::gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& s, float alpha, const Tensor& a,
                                  const Tensor& b, float beta, const Tensor& c) const {
  if (!check_gemm_batch_extents(s)) return;
  // Stored shapes: A_i is [M, K] ([K, M] if trans_a), B_i is [K, N] ([N, K] if trans_b), C_i is [M, N].
  if (s.k > 0) {
    check_extent("a", a, s.batch, s.stride_a, trans_a ? s.k : s.m, trans_a ? s.m : s.k, s.lda);
    check_extent("b", b, s.batch, s.stride_b, trans_b ? s.n : s.k, trans_b ? s.k : s.n, s.ldb);
  }
  check_extent("c", c, s.batch, s.stride_c, s.m, s.n, s.ldc);
  const float* ap = s.k > 0 ? a.data<float>() : nullptr;
  const float* bp = s.k > 0 ? b.data<float>() : nullptr;
  float* cp = c.data<float>();
  for (std::int64_t i = 0; i < s.batch; ++i) {
    float* ci = cp + i * s.stride_c;
    if (s.k == 0) {
      for (std::int64_t r = 0; r < s.m; ++r) scale_only(ci + r * s.ldc, s.n, beta);
      continue;
    }
    cblas_sgemm(CblasRowMajor, blas_trans(trans_a), blas_trans(trans_b), static_cast<int>(s.m), static_cast<int>(s.n),
                static_cast<int>(s.k), alpha, ap + i * s.stride_a, static_cast<int>(s.lda), bp + i * s.stride_b,
                static_cast<int>(s.ldb), beta, ci, static_cast<int>(s.ldc));
  }
}

}  // namespace trident
