// CudaOps::gemm and gemm_strided_batched: tensor checks (the CPU table's, plus device and the
// mixed-precision dtype rules), then one cuBLASLt call (core/cuda/cublaslt_matmul.cpp).
//
// dtypes: a and b are both f32 or both bf16; c is f32 or bf16, bf16 only with bf16 a and b. bf16 a
// and b with f32 c is the weight-gradient case (dW += xᵀ·dy with beta = 1). Accumulation is f32.
#include <algorithm>

#include "core/cuda/cublaslt_matmul.h"
#include "core/cuda/cuda_ops.h"
#include "core/error.h"
#include "core/gemm_checks.h"

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

}  // namespace

// c[M, N] = alpha * op(a) · op(b) + beta * c; a is [M, K] ([K, M] if trans_a), b is [K, N] ([N, K] if trans_b).
void CudaOps::gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                   const Tensor& c) const {
  check_operands("gemm", a, b, c, device_);
  const GemmMatrices g = check_gemm(trans_a, trans_b, a, b, c);
  GemmBatch s;
  s.m = g.m;
  s.n = g.n;
  s.k = g.k;
  s.lda = std::max<std::int64_t>(1, g.a2.dim(1));
  s.ldb = std::max<std::int64_t>(1, g.b2.dim(1));
  s.ldc = std::max<std::int64_t>(1, g.n);
  CudaDeviceGuard guard(device_);
  cublaslt_gemm(ctx_, trans_a, trans_b, s, alpha, g.a2.raw(), g.b2.raw(), a.dtype(), beta, g.c2.raw(), c.dtype());
}

void CudaOps::gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& s, float alpha, const Tensor& a,
                                   const Tensor& b, float beta, const Tensor& c) const {
  check_operands("gemm_strided_batched", a, b, c, device_);
  if (!check_gemm_batch_extents(s)) return;
  // Stored shapes: A_i is [M, K] ([K, M] if trans_a), B_i is [K, N] ([N, K] if trans_b), C_i is [M, N].
  if (s.k > 0) {
    check_gemm_batch_operand("a", a, s.batch, s.stride_a, trans_a ? s.k : s.m, trans_a ? s.m : s.k, s.lda);
    check_gemm_batch_operand("b", b, s.batch, s.stride_b, trans_b ? s.n : s.k, trans_b ? s.k : s.n, s.ldb);
  }
  check_gemm_batch_operand("c", c, s.batch, s.stride_c, s.m, s.n, s.ldc);
  CudaDeviceGuard guard(device_);
  cublaslt_gemm(ctx_, trans_a, trans_b, s, alpha, a.raw(), b.raw(), a.dtype(), beta, c.raw(), c.dtype());
}

}  // namespace trident
