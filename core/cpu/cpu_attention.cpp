// Causal self-attention core on the CPU. Per (batch b, head h), straight out of the fused QKV
// activation without permute copies: row s of Q_bh is qkv[b, s, 0, h, :], so Q, K, V are S x hd
// matrices with leading dimension 3·nh·hd, and O_bh is S x hd inside out[b, :, h, :] with leading
// dimension nh·hd. The probabilities P_bh [S, S] are saved for backward (masked part exactly 0).
//
// Causality is exploited by row blocks of kBlock: rows [r0, r1) of the scores only need keys
// [0, r1), so the strictly-upper blocks are never computed (about half the GEMM work at large S).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/blas_threads.h"
#include "core/cpu/parallel_for.h"
#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"

namespace trident {

namespace {

constexpr std::int64_t kBlock = 64;

struct AttnDims {
  std::int64_t b, s, nh, hd;
  std::int64_t c() const { return nh * hd; }        // row stride of out / dout
  std::int64_t ld3() const { return 3 * nh * hd; }  // row stride of qkv / dqkv
};

// qkv is [B, S, 3, nh, hd] (or any view [B, S, ...] with 3·nh·hd elements per token).
AttnDims check_qkv(const char* op, const char* name, const Tensor& qkv, std::int64_t heads) {
  cpu::check_f32(op, name, qkv);
  TRIDENT_CHECK(heads >= 1, op, ": heads must be >= 1, got ", heads);
  TRIDENT_CHECK(qkv.ndim() >= 3, op, ": ", name, " ", qkv.shape().str(), " should be [B, S, 3, nh, hd]");
  const std::int64_t b = qkv.dim(0), s = qkv.dim(1);
  const std::int64_t per_token = b * s == 0 ? 0 : qkv.numel() / (b * s);
  TRIDENT_CHECK(per_token % (3 * heads) == 0 && per_token > 0, op, ": ", name, " ", qkv.shape().str(), " has ",
                per_token, " values per token, not a multiple of 3 x ", heads, " heads");
  if (qkv.ndim() == 5)
    TRIDENT_CHECK(qkv.dim(2) == 3 && qkv.dim(3) == heads, op, ": ", name, " ", qkv.shape().str(),
                  " should be [B, S, 3, ", heads, ", hd]");
  return {b, s, heads, per_token / (3 * heads)};
}

void check_rows(const char* op, const char* name, const Tensor& t, const AttnDims& d) {
  cpu::check_f32(op, name, t);
  TRIDENT_CHECK(t.ndim() >= 2 && t.dim(0) == d.b && t.dim(1) == d.s && t.numel() == d.b * d.s * d.c(), op, ": ", name,
                " ", t.shape().str(), " should be [", d.b, ", ", d.s, ", ", d.nh, ", ", d.hd, "]");
}

void check_saved(const char* op, const Tensor& saved, const AttnDims& d) {
  cpu::check_f32(op, "saved", saved);
  TRIDENT_CHECK(saved.numel() == d.b * d.nh * d.s * d.s, op, ": saved ", saved.shape().str(), " should be [", d.b, ", ",
                d.nh, ", ", d.s, ", ", d.s, "] (allocate attention_saved_shape())");
}

// Row-major sgemm on raw sub-matrices: C[m, n] = alpha · op(A) · op(B) + beta · C.
void sgemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
           std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

// Row i of the scores over its causal part [0, i] -> probabilities in place; the rest of the row is 0.
void softmax_causal_row(float* row, std::int64_t i, std::int64_t s) {
  const std::int64_t len = i + 1;
  const float m = cpu::lane_max(row, len);
  const float inv = 1.0f / cpu::exp_sum<true>(row, m, len, row);
  for (std::int64_t j = 0; j < len; ++j) row[j] *= inv;
  std::fill(row + len, row + s, 0.0f);
}

// One (b, h) forward: P = softmax(mask(Q Kᵀ · scale)) into p [S, S], O = P·V into o (ld c).
void head_forward(const AttnDims& d, const float* q, float* p, float* o) {
  const std::int64_t s = d.s, c = d.c(), ld3 = d.ld3();
  const float* k = q + c;
  const float* v = q + 2 * c;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.hd));
  for (std::int64_t r0 = 0; r0 < s; r0 += kBlock) {
    const std::int64_t r1 = std::min(s, r0 + kBlock);
    sgemm(false, true, r1 - r0, r1, d.hd, scale, q + r0 * ld3, ld3, k, ld3, 0.0f, p + r0 * s, s);
    for (std::int64_t i = r0; i < r1; ++i) softmax_causal_row(p + i * s, i, s);
    sgemm(false, false, r1 - r0, d.hd, r1, 1.0f, p + r0 * s, s, v, ld3, 0.0f, o + r0 * c, c);
  }
}

// One (b, h) backward: dO (ld c) and P -> dQ, dK, dV inside dqkv (ld 3c), using ds [S, S] as scratch.
void head_backward(const AttnDims& d, const float* q, const float* p, const float* dO, float* dq, float* ds) {
  const std::int64_t s = d.s, c = d.c(), ld3 = d.ld3();
  const float* k = q + c;
  const float* v = q + 2 * c;
  float* dk = dq + c;
  float* dv = dq + 2 * c;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.hd));
  // Row block [r0, r1): dP rows over keys [0, r1), then dS in place, zero right of the diagonal.
  for (std::int64_t r0 = 0; r0 < s; r0 += kBlock) {
    const std::int64_t r1 = std::min(s, r0 + kBlock);
    sgemm(false, true, r1 - r0, r1, d.hd, 1.0f, dO + r0 * c, c, v, ld3, 0.0f, ds + r0 * s, s);
    for (std::int64_t i = r0; i < r1; ++i) {
      float* row = ds + i * s;
      const float* prow = p + i * s;
      const std::int64_t len = i + 1;
      const float dot = cpu::lane_dot(row, prow, len);
      for (std::int64_t j = 0; j < len; ++j) row[j] = prow[j] * (row[j] - dot);
      std::fill(row + len, row + r1, 0.0f);
    }
    // dQ[r0:r1] = scale · dS[r0:r1, 0:r1] · K[0:r1]
    sgemm(false, false, r1 - r0, d.hd, r1, scale, ds + r0 * s, s, k, ld3, 0.0f, dq + r0 * ld3, ld3);
  }
  // Column block [c0, c1) of P / dS has nonzeros only in rows [c0, S).
  for (std::int64_t c0 = 0; c0 < s; c0 += kBlock) {
    const std::int64_t c1 = std::min(s, c0 + kBlock);
    // dV[c0:c1] = P[c0:S, c0:c1]ᵀ · dO[c0:S];  dK[c0:c1] = scale · dS[c0:S, c0:c1]ᵀ · Q[c0:S]
    sgemm(true, false, c1 - c0, d.hd, s - c0, 1.0f, p + c0 * s + c0, s, dO + c0 * c, c, 0.0f, dv + c0 * ld3, ld3);
    sgemm(true, false, c1 - c0, d.hd, s - c0, scale, ds + c0 * s + c0, s, q + c0 * ld3, ld3, 0.0f, dk + c0 * ld3, ld3);
  }
}

// Runs body(worker, b, h) for every (batch, head). When OpenBLAS may use several threads, the heads
// are spread over that many pool workers running single-threaded GEMMs instead: per-head GEMMs
// (S x S x hd) are too small for OpenBLAS to split well (2 threads measured slower than 1).
// Each (b, h) is computed the same way whichever worker runs it, so results do not depend on it.
template <typename Body>
void for_each_head(const AttnDims& d, int workers, Body body) {
  const std::int64_t total = d.b * d.nh;
  auto work = [&](int w) {
    for (std::int64_t i = w; i < total; i += workers) body(w, i / d.nh, i % d.nh);
  };
  if (workers <= 1) return work(0);
  const int blas = blas_threads();
  set_blas_threads(1);
  // One chunk per worker on the persistent pool (no thread creation per call); the thread count
  // is passed explicitly because blas_threads() now reads 1.
  try {
    cpu::parallel_for_chunks(
        workers, workers, [&](std::int64_t w, std::int64_t, std::int64_t) { work(static_cast<int>(w)); }, workers);
  } catch (...) {
    set_blas_threads(blas);
    throw;
  }
  set_blas_threads(blas);
}

int head_workers(const AttnDims& d) {
  return static_cast<int>(std::clamp<std::int64_t>(blas_threads(), 1, std::max<std::int64_t>(1, d.b * d.nh)));
}

}  // namespace

Shape CpuOps::attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const {
  return Shape{batch, heads, seq, seq};
}

// out[b, :, h, :] = softmax(mask(Q Kᵀ / √hd)) · V for every (b, h).
void CpuOps::attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out, const Tensor& saved) const {
  const char* op = "attention_forward";
  const AttnDims d = check_qkv(op, "qkv", qkv, heads);
  check_rows(op, "out", out, d);
  check_saved(op, saved, d);
  const float* x = qkv.data<float>();
  float* p = saved.data<float>();
  float* o = out.data<float>();
  for_each_head(d, head_workers(d), [&](int, std::int64_t b, std::int64_t h) {
    head_forward(d, x + b * d.s * d.ld3() + h * d.hd, p + (b * d.nh + h) * d.s * d.s, o + b * d.s * d.c() + h * d.hd);
  });
}

// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP - rowsum(dP ⊙ P)), dQ = dS·K·scale, dK = dSᵀ·Q·scale.
void CpuOps::attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                std::int64_t heads, const Tensor& dqkv) const {
  const char* op = "attention_backward";
  const AttnDims d = check_qkv(op, "qkv", qkv, heads);
  check_rows(op, "dout", dout, d);
  check_rows(op, "out", out, d);
  check_saved(op, saved, d);
  cpu::check_f32(op, "dqkv", dqkv);
  TRIDENT_CHECK(dqkv.numel() == qkv.numel(), op, ": dqkv ", dqkv.shape().str(), " does not match qkv ",
                qkv.shape().str());
  const int workers = head_workers(d);
  std::vector<float> scratch(static_cast<std::size_t>(workers * d.s * d.s));  // dP, then dS: [S, S] per worker
  const float* x = qkv.data<float>();
  const float* p = saved.data<float>();
  const float* g = dout.data<float>();
  float* dx = dqkv.data<float>();
  for_each_head(d, workers, [&](int w, std::int64_t b, std::int64_t h) {
    const std::int64_t qoff = b * d.s * d.ld3() + h * d.hd;
    head_backward(d, x + qoff, p + (b * d.nh + h) * d.s * d.s, g + b * d.s * d.c() + h * d.hd, dx + qoff,
                  scratch.data() + w * d.s * d.s);
  });
}

}  // namespace trident
