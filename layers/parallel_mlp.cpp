#include "layers/parallel_mlp.h"

#include <cmath>

#include "core/ops.h"

namespace trident {

ParallelMlp::ParallelMlp(const std::string& prefix, const GptConfig& c, const TensorParallel& tp, Device device)
    : c_fc(prefix + ".c_fc", c.hidden, 4 * c.hidden, 1, c.init_std, tp, device),
      c_proj(prefix + ".c_proj", 4 * c.hidden, c.hidden, c.init_std / std::sqrt(2.0f * static_cast<float>(c.layers)),
             tp, device),
      tp_(tp) {}

Tensor ParallelMlp::forward(const Tensor& x, Saved& s) const {
  s.pre = c_fc.forward_without_bias(x, s.c_fc);
  s.act = Tensor::empty(s.pre.shape(), s.pre.dtype(), s.pre.device());
  ops_for(x.device()).bias_gelu_forward(s.pre, c_fc.bias.value, s.act);  // pre += bias; act = gelu(pre)
  Tensor y = c_proj.forward(s.act, s.c_proj);
  if (tp_.recompute() == Recompute::kSelective) s.act = s.c_proj.x = Tensor();  // rebuilt in backward_input
  return y;
}

Tensor ParallelMlp::backward_input(const Tensor& dy, Saved& s) const {
  const Ops& ops = ops_for(dy.device());
  if (!s.act.defined()) {
    s.act = Tensor::empty(s.pre.shape(), s.pre.dtype(), s.pre.device());
    ops.gelu_forward(s.pre, s.act);
    s.c_proj.x = s.act;  // c_proj's saved input, for its backward halves
  }
  const Tensor dact = c_proj.backward_input(dy, s.c_proj);
  Tensor dpre = Tensor::empty(s.pre.shape(), s.pre.dtype(), s.pre.device());
  ops.gelu_backward(dact, s.pre, dpre);
  s.pre = Tensor();
  s.act = Tensor();
  return c_fc.backward_input(dpre, s.c_fc);
}

void ParallelMlp::backward_weight(Saved& s) {
  c_proj.backward_weight(s.c_proj);
  c_fc.backward_weight(s.c_fc);
}

double ParallelMlp::flops_forward(std::int64_t tokens) const {
  return c_fc.flops_forward(tokens) + c_proj.flops_forward(tokens);
}

}  // namespace trident
