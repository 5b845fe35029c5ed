#include "layers/column_parallel_linear.h"

#include "core/ops.h"

namespace trident {

ColumnParallelLinear::ColumnParallelLinear(const std::string& name, std::int64_t in, std::int64_t out,
                                           std::int64_t blocks, float init_std, const TensorParallel& tp,
                                           Device device)
    : weight(name + ".weight", {in, out}, TpSplit::along(1, blocks), Init::normal(init_std), true, tp.size(),
             tp.rank(), device),
      bias(name + ".bias", {out}, TpSplit::along(0, blocks), Init::constant(0.0f), false, tp.size(), tp.rank(),
           device),
      tp_(tp) {}

Tensor ColumnParallelLinear::forward(const Tensor& x, Saved& s) const {
  const Ops& ops = ops_for(x.device());
  s.x = tp_.enter_region(x.as_2d());
  Tensor y = Tensor::empty({s.x.dim(0), out_local()}, x.dtype(), x.device());
  ops.gemm(false, false, 1.0f, s.x, weight.for_compute(), 0.0f, y);
  ops.bias_add(y, bias.value);
  return y;
}

Tensor ColumnParallelLinear::backward_input(const Tensor& dy, Saved& s) const {
  const Tensor dy2 = dy.as_2d();
  Tensor dx = Tensor::empty(s.x.shape(), dy.dtype(), dy.device());
  ops_for(dy.device()).gemm(false, true, 1.0f, dy2, weight.for_compute(), 0.0f, dx);
  s.dy = dy2;
  return tp_.enter_region_backward(dx);
}

void ColumnParallelLinear::backward_weight(Saved& s) {
  const Ops& ops = ops_for(s.x.device());
  ops.gemm(true, false, 1.0f, s.x, s.dy, 1.0f, weight.grad);
  ops.bias_backward(s.dy, bias.grad);
  s = Saved{};
}

double ColumnParallelLinear::flops_forward(std::int64_t tokens) const {
  return 2.0 * static_cast<double>(tokens) * static_cast<double>(weight.value.dim(0)) * static_cast<double>(out_local());
}

}  // namespace trident
