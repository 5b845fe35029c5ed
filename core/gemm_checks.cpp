#include "core/gemm_checks.h"

#include <algorithm>

#include "core/error.h"

namespace trident {

namespace {

Tensor matrix_view(const char* name, const Tensor& t) {
  TRIDENT_CHECK(t.ndim() >= 1, "gemm: ", name, " must have at least one dim, got a scalar");
  return t.ndim() == 2 ? t : t.as_2d();
}

}  // namespace

GemmMatrices check_gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, const Tensor& c) {
  GemmMatrices g;
  g.a2 = matrix_view("a", a);
  g.b2 = matrix_view("b", b);
  g.c2 = matrix_view("c", c);
  g.m = trans_a ? g.a2.dim(1) : g.a2.dim(0);
  g.k = trans_a ? g.a2.dim(0) : g.a2.dim(1);
  const std::int64_t kb = trans_b ? g.b2.dim(1) : g.b2.dim(0);
  g.n = trans_b ? g.b2.dim(0) : g.b2.dim(1);
  TRIDENT_CHECK(g.k == kb, "gemm: inner dims differ: op(a) of a ", a.shape().str(), (trans_a ? "^T" : ""),
                " has K = ", g.k, " but op(b) of b ", b.shape().str(), (trans_b ? "^T" : ""), " has K = ", kb);
  TRIDENT_CHECK(g.c2.dim(0) == g.m && g.c2.dim(1) == g.n, "gemm: c ", c.shape().str(), " should be [", g.m, ", ", g.n,
                "] for a ", a.shape().str(), (trans_a ? "^T" : ""), " times b ", b.shape().str(),
                (trans_b ? "^T" : ""));
  return g;
}

bool check_gemm_batch_extents(const GemmBatch& s) {
  TRIDENT_CHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "gemm_strided_batched: negative extent in batch ",
                s.batch, " m ", s.m, " n ", s.n, " k ", s.k);
  return s.batch > 0 && s.m > 0 && s.n > 0;
}

void check_gemm_batch_operand(const char* name, const Tensor& t, std::int64_t batch, std::int64_t stride,
                              std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  TRIDENT_CHECK(ld >= std::max<std::int64_t>(1, cols), "gemm_strided_batched: ld", name, " = ", ld,
                " is smaller than the ", cols, " columns of each ", rows, "x", cols, " ", name, " matrix");
  TRIDENT_CHECK(stride >= 0, "gemm_strided_batched: stride_", name, " = ", stride, " is negative");
  const std::int64_t need = (batch - 1) * stride + (rows - 1) * ld + cols;
  TRIDENT_CHECK(need <= t.numel(), "gemm_strided_batched: ", name, " ", t.shape().str(), " holds ", t.numel(),
                " elements, but batch ", batch, " of ", rows, "x", cols, " matrices (ld ", ld, ", stride ", stride,
                ") reaches element ", need);
}

}  // namespace trident
