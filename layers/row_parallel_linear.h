// Row-parallel linear (Megatron): y = x·W + b with W [in, out] split by input rows over TP, so
// each rank multiplies the slice of x that the preceding column-parallel layer left on it. The
// partial products are reduced when leaving the TP region and the bias (replicated) is added once,
// after the reduction. Used for the attention output projection and the MLP down projection.
//
// Forward:  y_partial = x_r·W_r [N, out] --leave_region--> y [n_local, out]; y += b
// Backward: dy [n_local, out] --leave_region_backward--> dy [N, out]; dx_r = dy·W_rᵀ [N, in/tp]
//           dW_r += x_rᵀ·dy; db += Σ_rows dy (this rank's tokens: a TP-partial sum under SP)
#pragma once

#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

class RowParallelLinear {
 public:
  struct Saved {
    Tensor x;         // [N, in/tp]
    Tensor dy_local;  // [n_local, out]: for the bias gradient
    Tensor dy;        // [N, out]: gathered under SP, for the weight gradient
    template <typename F> void for_each(F&& f) const { f(x), f(dy_local), f(dy); }
  };

  RowParallelLinear(const std::string& name, std::int64_t in, std::int64_t out, float init_std,
                    const TensorParallel& tp, Device device);

  Tensor forward(const Tensor& x, Saved& s) const;
  Tensor backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);

  double flops_forward(std::int64_t tokens) const;  // 2·N·(in/tp)·out

  void collect(ParameterList& out) { out.push_back(&weight); out.push_back(&bias); }
  Parameter weight, bias;

 private:
  const TensorParallel& tp_;
};

}  // namespace trident
