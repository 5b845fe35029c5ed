// LayerNorm over the last dim C of x[N, C]: out = (x - mean) · rstd · weight + bias, with the biased
// variance and rstd = 1/√(var + eps). mean[N] and rstd[N] are saved for the backward halves.
//
// Row kernels keep no per-row buffers: a row (C floats) is re-read from L1 instead, so nothing is
// allocated per call. The fused residual variants (add_layernorm_forward,
// layernorm_backward_input_add) run the same row kernels with the add folded into their passes:
// the forward equals add + layernorm_forward bit for bit; in the backward the compiler may fuse the
// residual add with the last multiply (one rounding instead of two).
#include <cmath>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"
#include "core/cpu/thread_scratch.h"

namespace trident {

namespace {

// Checks x[N, C] against a [C] parameter and the [N] statistics; returns N.
std::int64_t check_ln(const char* op, const Tensor& x, const char* pname, const Tensor& param, const Tensor& mean,
                      const Tensor& rstd) {
  cpu::check_f32(op, "x", x);
  cpu::check_f32(op, pname, param);
  cpu::check_f32(op, "mean", mean);
  cpu::check_f32(op, "rstd", rstd);
  const std::int64_t c = cpu::last_dim(op, "x", x);
  TRIDENT_CHECK(param.ndim() == 1 && param.dim(0) == c, op, ": ", pname, " ", param.shape().str(),
                " does not match x's last dim ", c, " (x is ", x.shape().str(), ")");
  const std::int64_t n = c == 0 ? 0 : x.numel() / c;
  TRIDENT_CHECK(mean.numel() == n && rstd.numel() == n, op, ": mean ", mean.shape().str(), " and rstd ",
                rstd.shape().str(), " must hold one value per row of x ", x.shape().str(), " (", n, " rows)");
  return n;
}

// One row: mean, rstd, out. Two passes for the statistics (mean, then Σ(x - mean)² in lanes) so a
// large mean does not cancel the variance away.
inline void forward_row(const float* x, const float* w, const float* b, float eps, std::int64_t c, float* out,
                        float* mean, float* rstd) {
  const float mu = cpu::lane_sum(x, c) / static_cast<float>(c);
  float acc[cpu::kLanes] = {};
  std::int64_t j = 0;
  for (; j + cpu::kLanes <= c; j += cpu::kLanes)
    for (int l = 0; l < cpu::kLanes; ++l) {
      const float d = x[j + l] - mu;
      acc[l] += d * d;
    }
  float ss = 0.0f;
  for (int l = 0; l < cpu::kLanes; ++l) ss += acc[l];
  for (; j < c; ++j) ss += (x[j] - mu) * (x[j] - mu);
  const float rs = 1.0f / std::sqrt(ss / static_cast<float>(c) + eps);
  *mean = mu;
  *rstd = rs;
  for (std::int64_t k = 0; k < c; ++k) out[k] = (x[k] - mu) * rs * w[k] + b[k];
}

// One row of the input gradient, plus `residual` (nullptr: none):
// dx = residual + rstd · (dnorm - mean(dnorm) - xhat · mean(dnorm · xhat)), dnorm = dout · weight,
// xhat = (x - mean) · rstd. dx may alias residual.
inline void backward_input_row(const float* dout, const float* x, const float* w, float mu, float rs, std::int64_t c,
                               const float* residual, float* dx) {
  float s1[cpu::kLanes] = {}, s2[cpu::kLanes] = {};
  std::int64_t j = 0;
  for (; j + cpu::kLanes <= c; j += cpu::kLanes)
    for (int l = 0; l < cpu::kLanes; ++l) {
      const float dn = dout[j + l] * w[j + l];
      s1[l] += dn;
      s2[l] += dn * ((x[j + l] - mu) * rs);
    }
  float sum_dn = 0.0f, sum_dnx = 0.0f;
  for (int l = 0; l < cpu::kLanes; ++l) sum_dn += s1[l];
  for (int l = 0; l < cpu::kLanes; ++l) sum_dnx += s2[l];
  for (; j < c; ++j) {
    const float dn = dout[j] * w[j];
    sum_dn += dn;
    sum_dnx += dn * ((x[j] - mu) * rs);
  }
  const float inv_c = 1.0f / static_cast<float>(c);
  const float mean_dn = sum_dn * inv_c, mean_dnx = sum_dnx * inv_c;
  for (std::int64_t k = 0; k < c; ++k) {
    const float g = rs * (dout[k] * w[k] - mean_dn - ((x[k] - mu) * rs) * mean_dnx);
    dx[k] = residual != nullptr ? residual[k] + g : g;
  }
}

// The shared body of layernorm_forward and add_layernorm_forward. With a residual pair (a, b not
// null) each row x = a + b is written first and normalised while it is in L1 (x is then called
// "sum" in messages); without, x is normalised as it is.
void normalise_rows(const char* op, const Tensor* a, const Tensor* b, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, float eps, const Tensor& out, const Tensor& mean, const Tensor& rstd) {
  const char* xname = a != nullptr ? "sum" : "x";
  const std::int64_t n = check_ln(op, x, "weight", weight, mean, rstd);
  if (a != nullptr) {
    cpu::check_f32(op, "a", *a);
    cpu::check_f32(op, "b", *b);
    cpu::check_same_shape(op, xname, x, "a", *a);
    cpu::check_same_shape(op, xname, x, "b", *b);
  }
  cpu::check_f32(op, "bias", bias);
  cpu::check_f32(op, "out", out);
  cpu::check_same_shape(op, xname, x, "out", out);
  cpu::check_same_shape(op, "weight", weight, "bias", bias);
  const std::int64_t c = x.dim(-1);
  const float* ap = a != nullptr ? a->data<float>() : nullptr;
  const float* bp = b != nullptr ? b->data<float>() : nullptr;
  float* xp = x.data<float>();
  const float* w = weight.data<float>();
  const float* bi = bias.data<float>();
  float* o = out.data<float>();
  float* mp = mean.data<float>();
  float* rp = rstd.data<float>();
  cpu::parallel_for(n, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      float* row = xp + r * c;
      if (ap != nullptr)
        for (std::int64_t j = 0; j < c; ++j) row[j] = ap[r * c + j] + bp[r * c + j];
      forward_row(row, w, bi, eps, c, o + r * c, mp + r, rp + r);
    }
  });
}

}  // namespace

void CpuOps::layernorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out,
                               const Tensor& mean, const Tensor& rstd) const {
  normalise_rows("layernorm_forward", nullptr, nullptr, x, weight, bias, eps, out, mean, rstd);
}

// sum = a + b, then LayerNorm of each sum row while it is in L1.
void CpuOps::add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& sum, const Tensor& weight,
                                   const Tensor& bias, float eps, const Tensor& out, const Tensor& mean,
                                   const Tensor& rstd) const {
  normalise_rows("add_layernorm_forward", &a, &b, sum, weight, bias, eps, out, mean, rstd);
}

namespace {

// The shared body of layernorm_backward_input and layernorm_backward_input_add (residual may be
// undefined).
void backward_input(const char* op, const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                    const Tensor& rstd, const Tensor& residual, const Tensor& dx) {
  const std::int64_t n = check_ln(op, x, "weight", weight, mean, rstd);
  cpu::check_f32(op, "dout", dout);
  cpu::check_f32(op, "dx", dx);
  cpu::check_same_shape(op, "x", x, "dout", dout);
  cpu::check_same_shape(op, "x", x, "dx", dx);
  if (residual.defined()) {
    cpu::check_f32(op, "dresidual", residual);
    cpu::check_same_shape(op, "x", x, "dresidual", residual);
  }
  const std::int64_t c = x.dim(-1);
  const float* d = dout.data<float>();
  const float* xp = x.data<float>();
  const float* w = weight.data<float>();
  const float* mp = mean.data<float>();
  const float* rp = rstd.data<float>();
  const float* res = residual.defined() ? residual.data<float>() : nullptr;
  float* g = dx.data<float>();
  cpu::parallel_for(n, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r)
      backward_input_row(d + r * c, xp + r * c, w, mp[r], rp[r], c, res != nullptr ? res + r * c : nullptr, g + r * c);
  });
}

}  // namespace

void CpuOps::layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& dx) const {
  backward_input("layernorm_backward_input", dout, x, weight, mean, rstd, Tensor(), dx);
}

void CpuOps::layernorm_backward_input_add(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                          const Tensor& mean, const Tensor& rstd, const Tensor& dresidual,
                                          const Tensor& dx) const {
  cpu::check_tensor("layernorm_backward_input_add", "dresidual", dresidual, DType::kF32);
  backward_input("layernorm_backward_input_add", dout, x, weight, mean, rstd, dresidual, dx);
}

// dweight[C] += Σ_n dout · xhat, dbias[C] += Σ_n dout; column sums over N rows, in double. Each chunk
// of rows sums into private partials, added in chunk order: fixed for a given thread count, and
// independent of C (the row grain is a constant).
void CpuOps::layernorm_backward_weight(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                       const Tensor& dweight, const Tensor& dbias) const {
  const char* op = "layernorm_backward_weight";
  const std::int64_t n = check_ln(op, x, "dweight", dweight, mean, rstd);
  cpu::check_f32(op, "dout", dout);
  cpu::check_f32(op, "dbias", dbias);
  cpu::check_same_shape(op, "x", x, "dout", dout);
  cpu::check_same_shape(op, "dweight", dweight, "dbias", dbias);
  const std::int64_t c = x.dim(-1);
  const float* d = dout.data<float>();
  const float* xp = x.data<float>();
  const float* mp = mean.data<float>();
  const float* rp = rstd.data<float>();
  constexpr std::int64_t kRowGrain = 32;
  const std::int64_t chunks = cpu::parallel_chunks(n, kRowGrain);
  // Per chunk: c dweight partials, then c dbias partials.
  double* acc = cpu::thread_scratch_doubles(static_cast<std::size_t>(chunks * 2 * c));
  cpu::parallel_for_chunks(n, chunks, [&](std::int64_t chunk, std::int64_t lo, std::int64_t hi) {
    double* dw = acc + chunk * 2 * c;
    double* db = dw + c;
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* drow = d + r * c;
      const float* xrow = xp + r * c;
      const float mu = mp[r], rs = rp[r];
      for (std::int64_t j = 0; j < c; ++j) {
        dw[j] += drow[j] * ((xrow[j] - mu) * rs);
        db[j] += drow[j];
      }
    }
  });
  float* wp = dweight.data<float>();
  float* bp = dbias.data<float>();
  for (std::int64_t j = 0; j < c; ++j) {
    double sw = acc[j], sb = acc[c + j];
    for (std::int64_t k = 1; k < chunks; ++k) {
      sw += acc[k * 2 * c + j];
      sb += acc[k * 2 * c + c + j];
    }
    wp[j] += static_cast<float>(sw);
    bp[j] += static_cast<float>(sb);
  }
}

}  // namespace trident
