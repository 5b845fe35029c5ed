// AdamW for the CUDA op table: checks, bias corrections on the host (in double, as the CPU table),
// then one fused kernel over param, grad, m and v (core/cuda/adamw_kernels.cu).
#include <cmath>

#include "core/cuda/adamw_kernels.h"
#include "core/cuda/cuda_op_util.h"
#include "core/error.h"

namespace trident {

namespace {
void check_optimizer_operand(const char* what, const Tensor& t, const Tensor& param, int device) {
  cuda_check_on_device("adamw_update", what, t, device);
  cuda_check_dtype("adamw_update", what, t, DType::kF32);
  cuda_check_same_shape("adamw_update", "param", param, what, t);
}
}  // namespace

// m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  param −= lr·(m̂/(√v̂ + eps) + weight_decay·param)
void CudaOps::adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                           const AdamWParams& p) const {
  check_optimizer_operand("param", param, param, device_);
  check_optimizer_operand("grad", grad, param, device_);
  check_optimizer_operand("m", m, param, device_);
  check_optimizer_operand("v", v, param, device_);
  TRIDENT_CHECK(p.step >= 1, "adamw_update: step is 1-based, got ", p.step);
  if (param.numel() == 0) return;
  // Bias corrections in double: β^t for large t underflows gracefully and 1 − β^t keeps its digits.
  const auto t = static_cast<double>(p.step);
  AdamWStep step{};
  step.lr = p.lr;
  step.beta1 = p.beta1;
  step.beta2 = p.beta2;
  step.eps = p.eps;
  step.weight_decay = p.weight_decay;
  step.inv_bias_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta1), t)));
  step.inv_bias_correction2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta2), t)));
  CudaDeviceGuard guard(device_);
  launch_adamw(param.data<float>(), grad.data<float>(), m.data<float>(), v.data<float>(), param.numel(), step,
               stream());
}

}  // namespace trident
