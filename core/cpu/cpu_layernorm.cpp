// LayerNorm over the last dim C of x[N, C]: out = (x - mean) · rstd · weight + bias, with the biased
// variance and rstd = 1/√(var + eps). mean[N] and rstd[N] are saved for the backward halves.
#include <cmath>
#include <vector>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"

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

}  // namespace

void CpuOps::layernorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out,
                               const Tensor& mean, const Tensor& rstd) const {
  const char* op = "layernorm_forward";
  const std::int64_t n = check_ln(op, x, "weight", weight, mean, rstd);
  cpu::check_f32(op, "bias", bias);
  cpu::check_f32(op, "out", out);
  cpu::check_same_shape(op, "weight", weight, "bias", bias);
  cpu::check_same_shape(op, "x", x, "out", out);
  const std::int64_t c = x.dim(-1);
  const float* xp = x.data<float>();
  const float* w = weight.data<float>();
  const float* b = bias.data<float>();
  float* o = out.data<float>();
  float* mp = mean.data<float>();
  float* rp = rstd.data<float>();
  cpu::parallel_for(n, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    std::vector<float> centred(static_cast<std::size_t>(c));
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* row = xp + r * c;
      // Two passes (mean, then Σ(x - mean)²) so a large mean does not cancel the variance away.
      const float mu = cpu::lane_sum(row, c) / static_cast<float>(c);
      for (std::int64_t j = 0; j < c; ++j) centred[static_cast<std::size_t>(j)] = row[j] - mu;
      const float var = cpu::lane_dot(centred.data(), centred.data(), c) / static_cast<float>(c);
      const float rs = 1.0f / std::sqrt(var + eps);
      mp[r] = mu;
      rp[r] = rs;
      float* orow = o + r * c;
      for (std::int64_t j = 0; j < c; ++j) orow[j] = centred[static_cast<std::size_t>(j)] * rs * w[j] + b[j];
    }
  });
}

// dx = rstd · (dnorm - mean(dnorm) - xhat · mean(dnorm · xhat)), dnorm = dout · weight, xhat = (x - mean) · rstd.
void CpuOps::layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& dx) const {
  const char* op = "layernorm_backward_input";
  const std::int64_t n = check_ln(op, x, "weight", weight, mean, rstd);
  cpu::check_f32(op, "dout", dout);
  cpu::check_f32(op, "dx", dx);
  cpu::check_same_shape(op, "x", x, "dout", dout);
  cpu::check_same_shape(op, "x", x, "dx", dx);
  const std::int64_t c = x.dim(-1);
  const float* d = dout.data<float>();
  const float* xp = x.data<float>();
  const float* w = weight.data<float>();
  const float* mp = mean.data<float>();
  const float* rp = rstd.data<float>();
  float* g = dx.data<float>();
  cpu::parallel_for(n, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    std::vector<float> dnorm(static_cast<std::size_t>(c)), xhat(static_cast<std::size_t>(c));
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* drow = d + r * c;
      const float* xrow = xp + r * c;
      const float mu = mp[r], rs = rp[r];
      for (std::int64_t j = 0; j < c; ++j) {
        dnorm[static_cast<std::size_t>(j)] = drow[j] * w[j];
        xhat[static_cast<std::size_t>(j)] = (xrow[j] - mu) * rs;
      }
      const float inv_c = 1.0f / static_cast<float>(c);
      const float mean_dn = cpu::lane_sum(dnorm.data(), c) * inv_c;
      const float mean_dnx = cpu::lane_dot(dnorm.data(), xhat.data(), c) * inv_c;
      float* grow = g + r * c;
      for (std::int64_t j = 0; j < c; ++j) {
        const auto k = static_cast<std::size_t>(j);
        grow[j] = rs * (dnorm[k] - mean_dn - xhat[k] * mean_dnx);
      }
    }
  });
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
  std::vector<double> acc(static_cast<std::size_t>(chunks * 2 * c), 0.0);
  cpu::parallel_for_chunks(n, chunks, [&](std::int64_t chunk, std::int64_t lo, std::int64_t hi) {
    double* dw = acc.data() + chunk * 2 * c;
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
    double sw = acc[static_cast<std::size_t>(j)], sb = acc[static_cast<std::size_t>(c + j)];
    for (std::int64_t k = 1; k < chunks; ++k) {
      sw += acc[static_cast<std::size_t>(k * 2 * c + j)];
      sb += acc[static_cast<std::size_t>(k * 2 * c + c + j)];
    }
    wp[j] += static_cast<float>(sw);
    bp[j] += static_cast<float>(sb);
  }
}

}  // namespace trident
