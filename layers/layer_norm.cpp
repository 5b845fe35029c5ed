#include "layers/layer_norm.h"

#include "core/ops.h"

namespace trident {

LayerNorm::LayerNorm(const std::string& name, std::int64_t hidden, float eps, const TensorParallel& tp, Device device)
    : weight(name + ".weight", {hidden}, TpSplit::replicated(), Init::constant(1.0f), false, tp.size(), tp.rank(),
             device),
      bias(name + ".bias", {hidden}, TpSplit::replicated(), Init::constant(0.0f), false, tp.size(), tp.rank(), device),
      eps_(eps) {
  weight.grad_is_tp_partial = bias.grad_is_tp_partial = tp.sequence_parallel();
}

Tensor LayerNorm::forward(const Tensor& x, Saved& s) const {
  const Ops& ops = ops_for(x.device());
  const Tensor x2 = x.as_2d();
  Tensor out = Tensor::empty(x2.shape(), x.dtype(), x.device());
  s.x = x2;
  s.mean = Tensor::empty({x2.dim(0)}, DType::kF32, x.device());
  s.rstd = Tensor::empty({x2.dim(0)}, DType::kF32, x.device());
  ops.layernorm_forward(x2, weight.value, bias.value, eps_, out, s.mean, s.rstd);
  return out;
}

Tensor LayerNorm::forward_add(const Tensor& a, const Tensor& b, Tensor& sum, Saved& s) const {
  const Tensor a2 = a.as_2d();
  Tensor out = Tensor::empty(a2.shape(), a.dtype(), a.device());
  sum = a2;
  s.x = a2;
  s.mean = Tensor::empty({a2.dim(0)}, DType::kF32, a.device());
  s.rstd = Tensor::empty({a2.dim(0)}, DType::kF32, a.device());
  ops_for(a.device()).add_layernorm_forward(a2, b.as_2d(), sum, weight.value, bias.value, eps_, out, s.mean, s.rstd);
  return out;
}

Tensor LayerNorm::backward_input(const Tensor& dout, Saved& s) const {
  Tensor dx = Tensor::empty(s.x.shape(), s.x.dtype(), s.x.device());
  ops_for(dx.device()).layernorm_backward_input(dout, s.x, weight.value, s.mean, s.rstd, dx);
  s.dout = dout;
  return dx;
}

Tensor LayerNorm::backward_input_add(const Tensor& dout, const Tensor& dresidual, Saved& s) const {
  Tensor dx = Tensor::empty(s.x.shape(), s.x.dtype(), s.x.device());
  ops_for(dx.device())
      .layernorm_backward_input_add(dout, s.x, weight.value, s.mean, s.rstd, dresidual.as_2d(), dx);
  s.dout = dout;
  return dx;
}

void LayerNorm::backward_weight(Saved& s) {
  ops_for(s.x.device()).layernorm_backward_weight(s.dout, s.x, s.mean, s.rstd, weight.grad, bias.grad);
  s = Saved{};
}

}  // namespace trident
