// GEMMs through OpenBLAS (row-major cblas_sgemm). Tensors are contiguous, so a rank > 2 tensor is
// its as_2d() view and the leading dimension of a 2-D operand is its column count.
//
// Threads: OpenBLAS runs single-threaded (core/cpu/blas_threads.h) and a GEMM is cut into one block
// per pool thread, by rows where M allows (by columns for a short, wide C), each block a cblas_sgemm
// of its own. Each element of C is the same K-long sum either way; row blocks reproduce the
// 1-thread result bit for bit, so the thread count does not change a trained model's numbers.
// Measured on mini's 15 GEMM shapes at 2 threads (best of 20): the split totals 0.95 of OpenBLAS's
// own threaded sgemm, which also spends time synchronising its threads inside each call.
#include <cblas.h>

#include <algorithm>

#include "core/cpu/blas_threads.h"
#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"
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

// Block boundaries are multiples of this many rows (columns), so no block ends in a partial
// register tile of OpenBLAS's kernel except the last.
constexpr std::int64_t kBlockAlign = 16;
// Rows each block needs before rows are split rather than columns (see sgemm).
constexpr std::int64_t kMinBlockRows = 64;
// Below this many multiply-adds a GEMM runs on the caller alone: a hand-off costs more.
constexpr double kMinSplitMacs = 1 << 20;

// One row-major sgemm, c[m, n] (ldc) = alpha · op(a) · op(b) + beta · c, with a [m, k] ([k, m] if ta,
// lda apart) and b [k, n] ([n, k] if tb, ldb apart), split over the pool's threads.
void sgemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
           std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  auto block = [&](std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
    // Rows r0..r1 of op(a) start at a + r0·lda (a row-major) or a + r0 (a stored transposed);
    // columns c0..c1 of op(b) at b + c0 (b row-major) or b + c0·ldb (b stored transposed).
    const float* ab = ta ? a + r0 : a + r0 * lda;
    const float* bb = tb ? b + c0 * ldb : b + c0;
    cblas_sgemm(CblasRowMajor, blas_trans(ta), blas_trans(tb), static_cast<int>(r1 - r0), static_cast<int>(c1 - c0),
                static_cast<int>(k), alpha, ab, static_cast<int>(lda), bb, static_cast<int>(ldb), beta,
                c + r0 * ldc + c0, static_cast<int>(ldc));
  };
  // Row blocks whenever each gets kMinBlockRows rows: they give the 1-thread result bit for bit
  // (column blocks can differ in the last bit: OpenBLAS may pick another kernel for a narrower C).
  const std::int64_t threads = blas_threads();
  const bool by_rows = m >= n || m >= kMinBlockRows * threads;
  const std::int64_t extent = by_rows ? m : n;
  const std::int64_t parts = std::min<std::int64_t>(threads, extent / kBlockAlign);
  if (parts <= 1 || static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < kMinSplitMacs)
    return block(0, m, 0, n);
  auto edge = [&](std::int64_t p) { return p == parts ? extent : extent * p / parts / kBlockAlign * kBlockAlign; };
  cpu::parallel_for_chunks(parts, parts, [&](std::int64_t p, std::int64_t, std::int64_t) {
    if (by_rows) {
      block(edge(p), edge(p + 1), 0, n);
    } else {
      block(0, m, edge(p), edge(p + 1));
    }
  });
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
  sgemm(trans_a, trans_b, m, n, k, alpha, a2.data<float>(), a2.dim(1), b2.data<float>(), b2.dim(1), beta, cp, n);
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
  // Items in parallel (each single-threaded: a GEMM inside a pool chunk runs inline); one item is split.
  cpu::parallel_for_chunks(s.batch, s.batch, [&](std::int64_t i, std::int64_t, std::int64_t) {
    float* ci = cp + i * s.stride_c;
    if (s.k == 0) {
      for (std::int64_t r = 0; r < s.m; ++r) scale_only(ci + r * s.ldc, s.n, beta);
      return;
    }
    sgemm(trans_a, trans_b, s.m, s.n, s.k, alpha, ap + i * s.stride_a, s.lda, bp + i * s.stride_b, s.ldb, beta, ci,
          s.ldc);
  });
}

}  // namespace trident
