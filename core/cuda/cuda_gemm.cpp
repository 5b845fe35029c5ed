// CudaOps::gemm and gemm_strided_batched: tensor checks (the CPU table's, plus device and the
// mixed-precision dtype rules), then one cuBLASLt call (core/cuda/cublaslt_matmul.cpp).
//
// dtypes: a and b are both f32 or both bf16; c is f32 or bf16, bf16 only with bf16 a and b. bf16 a
// and b with f32 c is the weight-gradient case (dW += xᵀ·dy with beta = 1). Accumulation is f32.
#include <algorithm>

#include "core/cuda/cublaslt_matmul.h"
#include "core/cuda/cuda_ops.h"
#include "core/error.h"

namespace trident {

namespace {

void check_operands(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, int device) {
  cuda_check_on_device(op, "a", a, device);
  cuda_check_on_device(op, "b", b, device);
  cuda_check_on_device(op, "c", c, device);
  cuda_check_float(op, "a", a);
  cuda_check_float(op, "b", b);
  cuda_check_float(op, "c", c);
  TRIDENT_CHECK(a.dtype() == b.dtype(), op, ": a is ", dtype_name(a.dtype()), " but b is ", dtype_name(b.dtype()),
                "; a and b must share a dtype (convert one of them)");
  TRIDENT_CHECK(c.dtype() == DType::kF32 || a.dtype() == DType::kBF16, op, ": c is bf16 but a and b are f32; ",
                "f32 inputs need an f32 c (cuBLAS has no f32 x f32 -> bf16 GEMM)");
}

Tensor matrix_view(const char* name, const Tensor& t) {
  TRIDENT_CHECK(t.ndim() >= 1, "gemm: ", name, " must have at least one dim, got a scalar");
  return t.ndim() == 2 ? t : t.as_2d();
}

// Checks that batch element `batch - 1` of a rows x cols operand with leading dim ld fits in t.
void check_extent(const char* name, const Tensor& t, std::int64_t batch, std::int64_t stride, std::int64_t rows,
                  std::int64_t cols, std::int64_t ld) {
  TRIDENT_CHECK(ld >= std::max<std::int64_t>(1, cols), "gemm_strided_batched: ld", name, " = ", ld,
                " is smaller than the ", cols, " columns of each ", rows, "x", cols, " ", name, " matrix");
  TRIDENT_CHECK(stride >= 0, "gemm_strided_batched: stride_", name, " = ", stride, " is negative");
  const std::int64_t need = (batch - 1) * stride + (rows - 1) * ld + cols;
  TRIDENT_CHECK(need <= t.numel(), "gemm_strided_batched: ", name, " ", t.shape().str(), " holds ", t.numel(),
                " elements, but batch ", batch, " of ", rows, "x", cols, " matrices (ld ", ld, ", stride ", stride,
                ") reaches element ", need);
}

}  // namespace

// c[M, N] = alpha * op(a) · op(b) + beta * c; a is [M, K] ([K, M] if trans_a), b is [K, N] ([N, K] if trans_b).
void CudaOps::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                   const Tensor& c) const {
  check_operands("gemm", a, b, c, device_);
  const Tensor a2 = matrix_view("a", a), b2 = matrix_view("b", b), c2 = matrix_view("c", c);
  const std::int64_t m = trans_a ? a2.dim(1) : a2.dim(0);
  const std::int64_t k = trans_a ? a2.dim(0) : a2.dim(1);
  const std::int64_t kb = trans_b ? b2.dim(1) : b2.dim(0);
  const std::int64_t n = trans_b ? b2.dim(0) : b2.dim(1);
  TRIDENT_CHECK(k == kb, "gemm: inner dims differ: op(a) of a ", a.shape().str(), (trans_a ? "^T" : ""), " has K = ", k,
                " but op(b) of b ", b.shape().str(), (trans_b ? "^T" : ""), " has K = ", kb);
  TRIDENT_CHECK(c2.dim(0) == m && c2.dim(1) == n, "gemm: c ", c.shape().str(), " should be [", m, ", ", n, "] for a ",
                a.shape().str(), (trans_a ? "^T" : ""), " times b ", b.shape().str(), (trans_b ? "^T" : ""));
  GemmBatch s;
  s.m = m;
  s.n = n;
  s.k = k;
  s.lda = std::max<std::int64_t>(1, a2.dim(1));
  s.ldb = std::max<std::int64_t>(1, b2.dim(1));
  s.ldc = std::max<std::int64_t>(1, n);
  CudaDeviceGuard guard(device_);
  cublaslt_gemm(ctx_, trans_a, trans_b, s, alpha, a2.raw(), b2.raw(), a.dtype(), beta, c2.raw(), c.dtype());
}

void CudaOps::gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& s, float alpha, const Tensor& a,
                                   const Tensor& b, float beta, const Tensor& c) const {
  check_operands("gemm_strided_batched", a, b, c, device_);
  TRIDENT_CHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "gemm_strided_batched: negative extent in batch ",
                s.batch, " m ", s.m, " n ", s.n, " k ", s.k);
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  // Stored shapes: A_i is [M, K] ([K, M] if trans_a), B_i is [K, N] ([N, K] if trans_b), C_i is [M, N].
  if (s.k > 0) {
    check_extent("a", a, s.batch, s.stride_a, trans_a ? s.k : s.m, trans_a ? s.m : s.k, s.lda);
    check_extent("b", b, s.batch, s.stride_b, trans_b ? s.n : s.k, trans_b ? s.k : s.n, s.ldb);
  }
  check_extent("c", c, s.batch, s.stride_c, s.m, s.n, s.ldc);
  CudaDeviceGuard guard(device_);
  cublaslt_gemm(ctx_, trans_a, trans_b, s, alpha, a.raw(), b.raw(), a.dtype(), beta, c.raw(), c.dtype());
}

}  // namespace trident
