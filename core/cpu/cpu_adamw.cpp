// AdamW with decoupled weight decay on f32 master weights; m and v are updated in place.
#include <cmath>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"

namespace trident {

// m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  m̂ = m/(1-β1^t);  v̂ = v/(1-β2^t)
// param -= lr · (m̂ / (√v̂ + eps) + weight_decay · param)
void CpuOps::adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                          const AdamWParams& p) const {
  const char* op = "adamw_update";
  cpu::check_f32(op, "param", param);
  cpu::check_f32(op, "grad", grad);
  cpu::check_f32(op, "m", m);
  cpu::check_f32(op, "v", v);
  cpu::check_same_shape(op, "param", param, "grad", grad);
  cpu::check_same_shape(op, "param", param, "m", m);
  cpu::check_same_shape(op, "param", param, "v", v);
  TRIDENT_CHECK(p.step >= 1, op, ": step is 1-based, got ", p.step);
  // Bias corrections in double: β^t for large t underflows gracefully and 1 - β^t keeps its digits.
  const auto t = static_cast<double>(p.step);
  const float inv_bc1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta1), t)));
  const float inv_bc2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta2), t)));
  const float b1 = p.beta1, b2 = p.beta2, lr = p.lr, eps = p.eps, wd = p.weight_decay;
  float* w = param.data<float>();
  const float* g = grad.data<float>();
  float* mp = m.data<float>();
  float* vp = v.data<float>();
  cpu::parallel_for(param.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const float gi = g[i];
      const float mi = b1 * mp[i] + (1.0f - b1) * gi;
      const float vi = b2 * vp[i] + (1.0f - b2) * gi * gi;
      mp[i] = mi;
      vp[i] = vi;
      const float mhat = mi * inv_bc1, vhat = vi * inv_bc2;
      w[i] -= lr * (mhat / (cpu::fast_sqrt(vhat) + eps) + wd * w[i]);
    }
  });
}

}  // namespace trident
