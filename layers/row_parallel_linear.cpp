#include "layers/row_parallel_linear.h"

#include "core/ops.h"

namespace trident {

RowParallelLinear::RowParallelLinear(const std::string& name, std::int64_t in, std::int64_t out, float init_std,
                                     const TensorParallel& tp, Device device)
    : weight(name + ".weight", {in, out}, TpSplit::along(0), Init::normal(init_std), true, tp.size(), tp.rank(),
             device),
      bias(name + ".bias", {out}, TpSplit::replicated(), Init::constant(0.0f), false, tp.size(), tp.rank(), device),
      tp_(tp) {
  bias.grad_is_tp_partial = tp.sequence_parallel();
}

Tensor RowParallelLinear::forward(const Tensor& x, Saved& s) const {
  const Ops& ops = ops_for(x.device());
  s.x = x.as_2d();
  Tensor partial = Tensor::empty({s.x.dim(0), weight.value.dim(1)}, x.dtype(), x.device());
  ops.gemm(false, false, 1.0f, s.x, weight.for_compute(), 0.0f, partial);
  Tensor y = tp_.leave_region(partial);
  ops.bias_add(y, bias.value);
  return y;
}

Tensor RowParallelLinear::backward_input(const Tensor& dy, Saved& s) const {
  s.dy_local = dy.as_2d();
  s.dy = tp_.leave_region_backward(s.dy_local);
  Tensor dx = Tensor::empty(s.x.shape(), dy.dtype(), dy.device());
  ops_for(dy.device()).gemm(false, true, 1.0f, s.dy, weight.for_compute(), 0.0f, dx);
  return dx;
}

void RowParallelLinear::backward_weight(Saved& s) {
  const Ops& ops = ops_for(s.x.device());
  ops.gemm(true, false, 1.0f, s.x, s.dy, 1.0f, weight.grad);
  ops.bias_backward(s.dy_local, bias.grad);
  s = Saved{};
}

double RowParallelLinear::flops_forward(std::int64_t tokens) const {
  return 2.0 * static_cast<double>(tokens) * static_cast<double>(weight.spec().local_shape()[0]) *
         static_cast<double>(weight.spec().local_shape()[1]);
}

}  // namespace trident
