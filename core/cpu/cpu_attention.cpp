// Causal self-attention core on the CPU, flash-attention style (Dao et al. 2022, with FlashAttention-2's
// loop orders): no S x S matrix exists in forward or backward. Per (batch b, head h), straight out of
// the fused QKV activation without permute copies: row s of Q_bh is qkv[b, s, 0, h, :] (rows
// 3·nh·hd apart), likewise K and V; O_bh is out[b, :, h, :] (rows nh·hd apart).
//
// Tiles of T = 64 queries meet tiles of T keys; tiles above the diagonal are skipped and, on the
// diagonal, keys after the query are masked. Score tiles are held transposed, Sᵀ[key, query], so
// every per-query statistic (max, sum, log-sum-exp) is a lane-wise vector operation across tile
// rows, never a horizontal reduction. The products run on the register-blocked micro-kernel of
// tile_gemm.h, the elementwise work on 16-lane vectors (simd.h).
//
// forward, per (b, h, query tile i), an online softmax over key tiles j = 0..i (scale = 1/√hd):
//   Sᵀ = K_j·(scale·Q_i)ᵀ;  m' = max(m, max_keys Sᵀ);  Pᵀ = exp(Sᵀ − m');  l = l·e^(m−m') + Σ_keys Pᵀ
//   O = O·e^(m−m') + P·V_j;  at the end O /= l and saved[b, h, s] = m + log l (the row log-sum-exp)
// backward, per (b, h): D = rowsum(dO ⊙ O), then key tiles j outer, query tiles i >= j inner:
//   Pᵀ = exp(Sᵀ − lse) (recomputed, bit-identical to forward);  dPᵀ = V_j·dO_iᵀ;  dSᵀ = Pᵀ ⊙ (dPᵀ − D)
//   dV_j += Pᵀ·dO_i;  dK_j += dSᵀ·Q_i;  dQ_i += dS·K_j;  dK, dQ times scale when written out
// Threads (the worker pool, blas_threads() of them): forward over (b, h, query tile), largest tiles
// first; backward over (b, h). Each item is computed the same way on any thread, so results do not
// depend on the thread count.
#include "core/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>

#include "core/cpu/blas_threads.h"
#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"
#include "core/cpu/simd.h"
#include "core/cpu/thread_scratch.h"
#include "core/cpu/tile_gemm.h"

namespace trident {

namespace {

using cpu::kAttentionTile;
using cpu::scratch_floats;
constexpr std::int64_t T = kAttentionTile;
constexpr int kVecs = static_cast<int>(T / cpu::simd::kWidth);  // vectors across a tile row

struct AttnDims {
  std::int64_t b, s, nh, hd;
  std::int64_t c() const { return nh * hd; }        // row stride of out / dout
  std::int64_t ld3() const { return 3 * nh * hd; }  // row stride of qkv / dqkv
  std::int64_t tiles() const { return (s + T - 1) / T; }
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
  TRIDENT_CHECK(saved.numel() == d.b * d.nh * d.s, op, ": saved ", saved.shape().str(), " should be [", d.b, ", ",
                d.nh, ", ", d.s, ", 1], the row log-sum-exp (allocate attention_saved_shape())");
}

float softmax_scale(const AttnDims& d) { return 1.0f / std::sqrt(static_cast<float>(d.hd)); }

// Runs body(item) for items [0, n) on the worker pool, one item per chunk (claimed in order).
template <typename Body>
void for_items(std::int64_t n, Body body) {
  if (blas_threads() <= 1 || n <= 1) {
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  cpu::parallel_for_chunks(n, n, [&](std::int64_t i, std::int64_t, std::int64_t) { body(i); });
}

// dst[d, r] = scale · src[r, d] for r < rows (rows ld apart), 0 for rows <= r < cols: a tile or a
// whole head transposed into [hd, cols] (B operand of the score products). Blocks of 16 rows, so
// the writes are 16 contiguous floats and the 16 source rows stay in L1 across the hd columns.
void pack_transposed(const float* src, std::int64_t ld, std::int64_t rows, std::int64_t hd, float scale, float* dst,
                     std::int64_t cols) {
  constexpr std::int64_t kRows = cpu::simd::kWidth;
  for (std::int64_t r0 = 0; r0 < cols; r0 += kRows) {
    const std::int64_t n = std::clamp<std::int64_t>(rows - r0, 0, kRows);
    std::int64_t k = 0;
    if (n == kRows)  // whole 16 x 16 blocks in registers
      for (; k + kRows <= hd; k += kRows) cpu::simd::transpose16(src + r0 * ld + k, ld, scale, dst + k * cols + r0, cols);
    for (; k < hd; ++k) {
      float* out = dst + k * cols + r0;
      for (std::int64_t i = 0; i < n; ++i) out[i] = scale * src[(r0 + i) * ld + k];
      for (std::int64_t i = n; i < kRows; ++i) out[i] = 0.0f;
    }
  }
}

// ---- tile products, with the causal structure of a diagonal tile ------------------------------------
//
// On a diagonal tile (query tile = key tile) query r only meets keys c <= r. The products there go
// in bands of 16 rows and skip the blocks that are all masked: about 3/8 of a diagonal tile's work.
constexpr std::int64_t kBand = cpu::simd::kWidth;

// Sᵀ-shaped tile: C[c, r] = Σ_k A(c, k)·B(k, r) over key rows c < nk and all T query columns, A's
// rows lda apart (K or V rows), B packed [hd, ldb]. Diagonal: band [c0, c0 + 16) computes columns
// r >= c0 only; the columns left unwritten are masked afterwards.
void scores_tile(bool diagonal, std::int64_t nk, std::int64_t hd, const float* a, std::int64_t lda, const float* b,
                 std::int64_t ldb, float* c) {
  if (!diagonal) return cpu::gemm_tile<false>(nk, T, hd, a, lda, 1, b, ldb, c, T);
  for (std::int64_t c0 = 0; c0 < nk; c0 += kBand)
    cpu::gemm_tile<false>(std::min(kBand, nk - c0), T - c0, hd, a + c0 * lda, lda, 1, b + c0, ldb, c + c0 * T + c0, T);
}

// C[i, :] += Σ_l A(i, l)·B(l, :) where, on a diagonal tile, row i (a query) only meets l <= i (keys):
// P·V in forward, dS·K in backward.
void lower_product(bool diagonal, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t rs,
                   std::int64_t cs, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (!diagonal) return cpu::gemm_tile<true>(m, n, k, a, rs, cs, b, ldb, c, ldc);
  for (std::int64_t i0 = 0; i0 < m; i0 += kBand) {
    const std::int64_t rows = std::min(kBand, m - i0);
    cpu::gemm_tile<true>(rows, n, std::min(k, i0 + rows), a + i0 * rs, rs, cs, b, ldb, c + i0 * ldc, ldc);
  }
}

// C[i, :] += Σ_l A(i, l)·B(l, :) where, on a diagonal tile, row i (a key) only meets l >= i
// (queries): Pᵀ·dO and dSᵀ·Q in backward.
void upper_product(bool diagonal, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t rs,
                   std::int64_t cs, const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (!diagonal) return cpu::gemm_tile<true>(m, n, k, a, rs, cs, b, ldb, c, ldc);
  for (std::int64_t i0 = 0; i0 < m; i0 += kBand)
    cpu::gemm_tile<true>(std::min(kBand, m - i0), n, k - i0, a + i0 * (rs + cs), rs, cs, b + i0 * ldb, ldb,
                         c + i0 * ldc, ldc);
}

// ---- forward --------------------------------------------------------------------------------------

// Scratch of one forward item: Qᵀ [hd, T], Sᵀ/Pᵀ [T, T], O accumulator [T, hdp], m, l, alpha [T].
std::size_t forward_floats(std::int64_t hd) {
  const auto t = static_cast<std::size_t>(T);
  return scratch_floats(static_cast<std::size_t>(hd) * t) + t * t + t * scratch_floats(static_cast<std::size_t>(hd)) +
         3 * t;
}

// Online-softmax statistics of one key tile: folds the tile's column maxima into m (the new max
// m'), turns st into Pᵀ = exp(Sᵀ − m'), l = l·alpha + Σ_keys Pᵀ with alpha = exp(m − m') written out.
void online_softmax(float* st, std::int64_t nk, float* m, float* l, float* alpha) {
  using namespace cpu::simd;
  for (int v = 0; v < kVecs; ++v) {
    Vec mx = load(m + v * kWidth);
    for (std::int64_t c = 0; c < nk; ++c) mx = max(mx, load(st + c * T + v * kWidth));
    Vec sum = zero();
    for (std::int64_t c = 0; c < nk; ++c) {
      float* row = st + c * T + v * kWidth;
      const Vec p = exp(sub(load(row), mx));
      store(row, p);
      sum = add(sum, p);
    }
    const Vec a = exp(sub(load(m + v * kWidth), mx));  // m = -inf on the first tile: alpha = 0
    store(alpha + v * kWidth, a);
    store(l + v * kWidth, fma(load(l + v * kWidth), a, sum));
    store(m + v * kWidth, mx);
  }
}

// Row c of a diagonal tile (query tile origin = key tile origin): queries r < c come before key c.
void mask_diagonal(float* st, std::int64_t nk, float value) {
  using namespace cpu::simd;
  for (std::int64_t c = 1; c < nk; ++c)
    for (int v = 0; v * kWidth < c; ++v) {
      float* p = st + c * T + v * kWidth;
      store(p, fill_first(load(p), static_cast<int>(c - v * kWidth), value));
    }
}

// One query tile qt of head h: out rows [q0, q0 + nq) and their log-sum-exp.
void forward_item(const AttnDims& d, const float* qkv_b, float* out_b, float* lse_bh, std::int64_t h,
                  std::int64_t qt) {
  using namespace cpu::simd;
  const std::int64_t hd = d.hd, ld3 = d.ld3(), hdp = static_cast<std::int64_t>(scratch_floats(hd));
  const std::int64_t q0 = qt * T, nq = std::min(T, d.s - q0);
  float* qt_pack = cpu::thread_scratch(forward_floats(hd));
  float* st = qt_pack + scratch_floats(static_cast<std::size_t>(hd * T));
  float* acc = st + T * T;
  float* m = acc + T * hdp;
  float* l = m + T;
  float* alpha = l + T;
  const float* q = qkv_b + h * hd;
  const float* k = q + d.c();
  const float* v = q + 2 * d.c();

  pack_transposed(q + q0 * ld3, ld3, nq, hd, softmax_scale(d), qt_pack, T);
  std::fill(m, m + T, kNegInf);
  std::fill(l, l + T, 0.0f);
  std::fill(acc, acc + nq * hdp, 0.0f);
  for (std::int64_t kt = 0; kt <= qt; ++kt) {
    const std::int64_t k0 = kt * T, nk = std::min(T, d.s - k0);
    const bool diagonal = kt == qt;
    scores_tile(diagonal, nk, hd, k + k0 * ld3, ld3, qt_pack, T, st);  // Sᵀ [nk, T]
    if (diagonal) mask_diagonal(st, nk, kNegInf);
    online_softmax(st, nk, m, l, alpha);
    if (kt > 0)
      for (std::int64_t r = 0; r < nq; ++r) {
        const Vec a = set1(alpha[r]);
        for (std::int64_t j = 0; j < hdp; j += kWidth) store(acc + r * hdp + j, mul(load(acc + r * hdp + j), a));
      }
    lower_product(diagonal, nq, hd, nk, st, 1, T, v + k0 * ld3, ld3, acc, hdp);  // O += P·V_j
  }
  for (std::int64_t r = 0; r < nq; ++r) {
    const float inv = 1.0f / l[r];
    float* o = out_b + (q0 + r) * d.c() + h * hd;
    for (std::int64_t j = 0; j < hd; ++j) o[j] = acc[r * hdp + j] * inv;
    lse_bh[q0 + r] = m[r] + std::log(l[r]);
  }
}

// ---- backward -------------------------------------------------------------------------------------

// Scratch of one backward item: (scale·Q)ᵀ and dOᵀ [hd, Sp], lse and D [Sp], Pᵀ and dSᵀ [T, T],
// dK and dV accumulators [T, hdp]; Sp = S rounded up to whole tiles.
std::size_t backward_floats(std::int64_t s, std::int64_t hd) {
  const auto t = static_cast<std::size_t>(T);
  const auto sp = static_cast<std::size_t>((s + T - 1) / T * T);
  return 2 * scratch_floats(static_cast<std::size_t>(hd) * sp) + 2 * sp + 2 * t * t +
         2 * t * scratch_floats(static_cast<std::size_t>(hd));
}

struct HeadPtrs {
  const float* q;   // qkv_b + h·hd: Q rows ld3 apart; K = q + c, V = q + 2c
  const float* dO;  // dout_b + h·hd, rows c apart
  const float* o;   // out_b + h·hd, rows c apart
  const float* lse; // saved[b, h, :]
  float* dq;        // dqkv_b + h·hd; dK = dq + c, dV = dq + 2c
};

void backward_item(const AttnDims& d, const HeadPtrs& hp) {
  using namespace cpu::simd;
  const std::int64_t hd = d.hd, ld3 = d.ld3(), c = d.c(), hdp = static_cast<std::int64_t>(scratch_floats(hd));
  const std::int64_t nt = d.tiles(), sp = nt * T;
  const float scale = softmax_scale(d);
  float* q_t = cpu::thread_scratch(backward_floats(d.s, hd));
  float* do_t = q_t + scratch_floats(static_cast<std::size_t>(hd * sp));
  float* lse = do_t + scratch_floats(static_cast<std::size_t>(hd * sp));
  float* dsum = lse + sp;
  float* p = dsum + sp;
  float* ds = p + T * T;
  float* dk = ds + T * T;
  float* dv = dk + T * hdp;
  const float* k = hp.q + c;
  const float* v = hp.q + 2 * c;

  pack_transposed(hp.q, ld3, d.s, hd, scale, q_t, sp);
  pack_transposed(hp.dO, c, d.s, hd, 1.0f, do_t, sp);
  std::copy(hp.lse, hp.lse + d.s, lse);
  std::fill(lse + d.s, lse + sp, 0.0f);
  for (std::int64_t r = 0; r < d.s; ++r) {
    dsum[r] = cpu::lane_dot(hp.dO + r * c, hp.o + r * c, hd);
    std::fill(hp.dq + r * ld3, hp.dq + r * ld3 + hd, 0.0f);
  }
  std::fill(dsum + d.s, dsum + sp, 0.0f);

  for (std::int64_t kt = 0; kt < nt; ++kt) {
    const std::int64_t k0 = kt * T, nk = std::min(T, d.s - k0);
    std::fill(dk, dk + nk * hdp, 0.0f);
    std::fill(dv, dv + nk * hdp, 0.0f);
    for (std::int64_t qt = kt; qt < nt; ++qt) {
      const std::int64_t q0 = qt * T, nq = std::min(T, d.s - q0);
      const bool diagonal = qt == kt;
      scores_tile(diagonal, nk, hd, k + k0 * ld3, ld3, q_t + q0, sp, p);   // Sᵀ
      scores_tile(diagonal, nk, hd, v + k0 * ld3, ld3, do_t + q0, sp, ds);  // dPᵀ
      for (std::int64_t r = 0; r < nk; ++r)
        for (int w = 0; w < kVecs; ++w) {
          float* pr = p + r * T + w * kWidth;
          float* dr = ds + r * T + w * kWidth;
          const Vec pv = exp(sub(load(pr), load(lse + q0 + w * kWidth)));
          store(pr, pv);
          store(dr, mul(pv, sub(load(dr), load(dsum + q0 + w * kWidth))));
        }
      if (diagonal) {
        mask_diagonal(p, nk, 0.0f);
        mask_diagonal(ds, nk, 0.0f);
      }
      upper_product(diagonal, nk, hd, nq, p, T, 1, hp.dO + q0 * c, c, dv, hdp);      // dV_j += Pᵀ·dO_i
      upper_product(diagonal, nk, hd, nq, ds, T, 1, hp.q + q0 * ld3, ld3, dk, hdp);  // dK_j += dSᵀ·Q_i
      lower_product(diagonal, nq, hd, nk, ds, 1, T, k + k0 * ld3, ld3, hp.dq + q0 * ld3, ld3);  // dQ_i += dS·K_j
    }
    for (std::int64_t r = 0; r < nk; ++r) {
      float* dkr = hp.dq + c + (k0 + r) * ld3;
      float* dvr = hp.dq + 2 * c + (k0 + r) * ld3;
      for (std::int64_t j = 0; j < hd; ++j) {
        dkr[j] = dk[r * hdp + j] * scale;
        dvr[j] = dv[r * hdp + j];
      }
    }
  }
  for (std::int64_t r = 0; r < d.s; ++r)
    for (std::int64_t j = 0; j < hd; ++j) hp.dq[r * ld3 + j] *= scale;
}

}  // namespace

std::int64_t cpu::attention_workspace_bytes(std::int64_t seq, std::int64_t head_dim) {
  return static_cast<std::int64_t>(std::max(forward_floats(head_dim), backward_floats(seq, head_dim)) * sizeof(float));
}

Shape CpuOps::attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const {
  return Shape{batch, heads, seq, 1};
}

void CpuOps::attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out, const Tensor& saved) const {
  const char* op = "attention_forward";
  const AttnDims d = check_qkv(op, "qkv", qkv, heads);
  check_rows(op, "out", out, d);
  check_saved(op, saved, d);
  const float* x = qkv.data<float>();
  float* o = out.data<float>();
  float* lse = saved.data<float>();
  const std::int64_t heads_total = d.b * d.nh, nt = d.tiles();
  // Item i: query tile nt-1 - i / (B·nh) (the most key tiles first, for balance), head i % (B·nh).
  for_items(heads_total * nt, [&](std::int64_t i) {
    const std::int64_t qt = nt - 1 - i / heads_total, bh = i % heads_total, b = bh / d.nh, h = bh % d.nh;
    forward_item(d, x + b * d.s * d.ld3(), o + b * d.s * d.c(), lse + bh * d.s, h, qt);
  });
}

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
  const float* x = qkv.data<float>();
  const float* g = dout.data<float>();
  const float* o = out.data<float>();
  const float* lse = saved.data<float>();
  float* dx = dqkv.data<float>();
  for_items(d.b * d.nh, [&](std::int64_t bh) {
    const std::int64_t b = bh / d.nh, h = bh % d.nh;
    const std::int64_t qoff = b * d.s * d.ld3() + h * d.hd, ooff = b * d.s * d.c() + h * d.hd;
    backward_item(d, HeadPtrs{x + qoff, g + ooff, o + ooff, lse + bh * d.s, dx + qoff});
  });
}

}  // namespace trident
