// GEMMs through OpenBLAS (row-major cblas_sgemm). Tensors are contiguous, so a rank > 2 tensor is
// its as_2d() view and the leading dimension of a 2-D operand is its column count.
#include <cblas.h>

#include <algorithm>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_ops.h"

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

Tensor matrix_view(const char* name, const Tensor& t) {
  cpu::check_f32("gemm", name, t);
  TRIDENT_CHECK(t.ndim() >= 1, "gemm: ", name, " must have at least one dim, got a scalar");
  return t.ndim() == 2 ? t : t.as_2d();
}

}  // namespace

// c[M, N] = alpha * op(a) · op(b) + beta * c; a is [M, K] ([K, M] if trans_a), b is [K, N] ([N, K] if trans_b).
void CpuOps::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                  const Tensor& c) const {
  const Tensor a2 = matrix_view("a", a), b2 = matrix_view("b", b), c2 = matrix_view("c", c);
  const std::int64_t m = trans_a ? a2.dim(1) : a2.dim(0);
  const std::int64_t k = trans_a ? a2.dim(0) : a2.dim(1);
  const std::int64_t kb = trans_b ? b2.dim(1) : b2.dim(0);
  const std::int64_t n = trans_b ? b2.dim(0) : b2.dim(1);
  TRIDENT_CHECK(k == kb, "gemm: inner dims differ: op(a) of a ", a.shape().str(), (trans_a ? "^T" : ""), " has K = ", k,
                " but op(b) of b ", b.shape().str(), (trans_b ? "^T" : ""), " has K = ", kb);
  TRIDENT_CHECK(c2.dim(0) == m && c2.dim(1) == n, "gemm: c ", c.shape().str(), " should be [", m, ", ", n, "] for a ",
                a.shape().str(), (trans_a ? "^T" : ""), " times b ", b.shape().str(), (trans_b ? "^T" : ""));
  if (m == 0 || n == 0) return;
  float* cp = c2.data<float>();
  if (k == 0) return scale_only(cp, m * n, beta);
  cblas_sgemm(CblasRowMajor, blas_trans(trans_a), blas_trans(trans_b), static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a2.data<float>(), static_cast<int>(a2.dim(1)), b2.data<float>(),
              static_cast<int>(b2.dim(1)), beta, cp, static_cast<int>(n));
}

namespace {

// Checks that batch element `batch - 1` of a rows × cols operand with leading dim ld fits in t.
void check_extent(const char* name, const Tensor& t, std::int64_t batch, std::int64_t stride, std::int64_t rows,
                  std::int64_t cols, std::int64_t ld) {
  cpu::check_f32("gemm_strided_batched", name, t);
  TRIDENT_CHECK(ld >= std::max<std::int64_t>(1, cols), "gemm_strided_batched: ld", name, " = ", ld,
                " is smaller than the ", cols, " columns of each ", rows, "x", cols, " ", name, " matrix");
  TRIDENT_CHECK(stride >= 0, "gemm_strided_batched: stride_", name, " = ", stride, " is negative");
  const std::int64_t need = (batch - 1) * stride + (rows - 1) * ld + cols;
  TRIDENT_CHECK(need <= t.numel(), "gemm_strided_batched: ", name, " ", t.shape().str(), " holds ", t.numel(),
                " elements, but batch ", batch, " of ", rows, "x", cols, " matrices (ld ", ld, ", stride ", stride,
                ") reaches element ", need);
}

}  // namespace

void CpuOps::gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& s, float alpha, const Tensor& a,
                                  const Tensor& b, float beta, const Tensor& c) const {
  TRIDENT_CHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "gemm_strided_batched: negative extent in batch ",
                s.batch, " m ", s.m, " n ", s.n, " k ", s.k);
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
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
