// Column-parallel linear (Megatron): y = x·W + b with W [in, out] (GPT-2 Conv1D layout) split by
// output columns over TP. Used for the fused QKV projection (blocks = 3: each rank takes its heads
// of q, of k and of v, so its output is [n, 3, nh/tp, hd]) and the MLP up projection.
//
// Forward:  x [n_local, in] --enter_region--> x [N, in]; y = x·W_r + b_r  [N, out/tp]
// Backward: dx_partial = dy·W_rᵀ [N, in] --enter_region_backward--> dx [n_local, in]
//           dW_r += xᵀ·dy, db_r += Σ_rows dy   (backward_weight, separable for zero-bubble)
// Only x [n_local, in] is kept for backward: under sequence parallelism backward_weight gathers it
// again (one more all-gather instead of tp times the memory, as Megatron-LM does).
#pragma once

#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

class ColumnParallelLinear {
 public:
  struct Saved {
    Tensor x;   // [n_local, in]: this rank's tokens of the input (gathered again for dW under SP)
    Tensor dy;  // [N, out/tp]: kept from backward_input for backward_weight
    template <typename F> void for_each(F&& f) const { f(x), f(dy); }
  };

  ColumnParallelLinear(const std::string& name, std::int64_t in, std::int64_t out, std::int64_t blocks, float init_std,
                       const TensorParallel& tp, Device device);

  Tensor forward(const Tensor& x, Saved& s) const;
  // x·W_r alone: the caller adds the bias inside its next op (ParallelMlp: bias + GELU in one pass).
  Tensor forward_without_bias(const Tensor& x, Saved& s) const;
  Tensor backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);

  std::int64_t out_local() const { return weight.value.dim(1); }
  // Forward FLOPs of this rank for n tokens: 2·N·in·out/tp.
  double flops_forward(std::int64_t tokens) const;

  void collect(ParameterList& out) { out.push_back(&weight); out.push_back(&bias); }
  Parameter weight, bias;

 private:
  const TensorParallel& tp_;
};

}  // namespace trident
