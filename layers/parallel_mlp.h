// The GPT-2 MLP, split Megatron-style: h -> 4h column-parallel, GELU (tanh) on the local 4h/tp
// columns, 4h -> h row-parallel. No communication between the two linears. The up projection's
// bias is added inside the GELU op (bias_gelu_forward: one pass over the [N, 4h/tp] activation).
// Under selective recompute the GELU output (c_proj's saved input, [N, 4h/tp]) is dropped after
// forward and recomputed from the kept GELU input at the start of backward_input.
#pragma once

#include "layers/column_parallel_linear.h"
#include "layers/gpt_config.h"
#include "layers/row_parallel_linear.h"

namespace trident {

class ParallelMlp {
 public:
  struct Saved {
    ColumnParallelLinear::Saved c_fc;
    Tensor pre;  // [N, 4h/tp]: GELU input (c_fc's output with its bias)
    Tensor act;  // [N, 4h/tp]: GELU output (c_proj's saved input); empty under selective recompute
    RowParallelLinear::Saved c_proj;
    template <typename F> void for_each(F&& f) const { c_fc.for_each(f), f(pre), f(act), c_proj.for_each(f); }
  };

  ParallelMlp(const std::string& prefix, const GptConfig& config, const TensorParallel& tp, Device device);

  Tensor forward(const Tensor& x, Saved& s) const;  // x [n_local, h] -> [n_local, h]
  Tensor backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);
  double flops_forward(std::int64_t tokens) const;

  void collect(ParameterList& out) { c_fc.collect(out); c_proj.collect(out); }
  ColumnParallelLinear c_fc;
  RowParallelLinear c_proj;

 private:
  const TensorParallel& tp_;
};

}  // namespace trident
