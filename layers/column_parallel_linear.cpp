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
  Tensor y = forward_without_bias(x, s);
  ops_for(x.device()).bias_add(y, bias.value);
  return y;
}

Tensor ColumnParallelLinear::forward_without_bias(const Tensor& x, Saved& s) const {
  // Only this rank's tokens are kept: under sequence parallelism the gathered input is 1/tp of the
  // memory as a local shard, and backward_weight gathers it again (Korthikanti et al. 2022, §4.2.2).
  s.x = x.as_2d();
  const Tensor full = tp_.enter_region(s.x);
  Tensor y = Tensor::empty({full.dim(0), out_local()}, x.dtype(), x.device());
  ops_for(x.device()).gemm(false, false, 1.0f, full, weight.for_compute(), 0.0f, y);
  return y;
}

Tensor ColumnParallelLinear::backward_input(const Tensor& dy, Saved& s) const {
  const Tensor dy2 = dy.as_2d();
  Tensor dx = Tensor::empty({dy2.dim(0), s.x.dim(1)}, dy.dtype(), dy.device());
  ops_for(dy.device()).gemm(false, true, 1.0f, dy2, weight.for_compute(), 0.0f, dx);
  s.dy = dy2;
  return tp_.enter_region_backward(dx);
}

void ColumnParallelLinear::backward_weight(Saved& s) {
  const Ops& ops = ops_for(s.x.device());
  ops.gemm(true, false, 1.0f, tp_.enter_region(s.x), s.dy, 1.0f, weight.grad);
  ops.bias_backward(s.dy, bias.grad);
  s = Saved{};
}

double ColumnParallelLinear::flops_forward(std::int64_t tokens) const {
  return 2.0 * static_cast<double>(tokens) * static_cast<double>(weight.spec().local_shape()[0]) * static_cast<double>(out_local());
}

}  // namespace trident
