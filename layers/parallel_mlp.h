// The GPT-2 MLP, split Megatron-style: h -> 4h column-parallel, GELU (tanh) on the local 4h/tp
// columns, 4h -> h row-parallel. No communication between the two linears.
#pragma once

#include "layers/column_parallel_linear.h"
#include "layers/gpt_config.h"
#include "layers/row_parallel_linear.h"

namespace trident {

class ParallelMlp {
 public:
  struct Saved {
    ColumnParallelLinear::Saved c_fc;
    Tensor pre;  // [N, 4h/tp]: GELU input
    Tensor act;  // [N, 4h/tp]: GELU output (c_proj's saved input)
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
};

}  // namespace trident
