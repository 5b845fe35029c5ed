// The tensor-parallel group as the layers see it, with the four communication patterns of
// Megatron-style TP (Shoeybi et al. 2019; sequence parallelism: Korthikanti et al. 2022).
//
// Without sequence parallelism, activations between TP regions are replicated [N, h] on every TP
// rank: a column-parallel input needs nothing in forward and an all-reduce of its input gradient
// in backward; a row-parallel output is all-reduced in forward and needs nothing in backward.
// With sequence parallelism, activations between TP regions are split by tokens: rank r holds
// rows [r·N/tp, (r+1)·N/tp) of the [N = B·S, h] token matrix (LayerNorm and residual adds are
// per-token, so any token split works, and rows of [N, h] are contiguous: the communicator's dim-0
// gathers need no permutes). Then the column-parallel input is all-gathered in forward and
// reduce-scattered in backward, and the row-parallel output the reverse.
#pragma once

#include "core/tensor.h"
#include "parallel/communicator.h"

namespace trident {

enum class Recompute { kNone, kSelective, kFull };
// "none" | "selective" | "full"; throws naming the accepted values.
Recompute parse_recompute(std::string_view name);
std::string_view recompute_name(Recompute r);

struct TensorParallelOptions {
  bool sequence_parallel = false;
  // kSelective: what is cheap to rebuild and large to keep is recomputed in backward instead of
  // kept: the attention core's output [N, h/tp] and softmax statistics (the core is fused, so no
  // [B, nh, S, S] tensor exists in any mode) and the GELU output [N, 4h/tp]; about 5h of a block's
  // ~16h activation columns per token, for one more attention core forward and GELU per block.
  // kFull: each block keeps only its input and reruns its forward in backward.
  Recompute recompute = Recompute::kNone;
};

class TensorParallel {
 public:
  // `group` is the mesh's TP communicator; nullptr means tp = 1 (no communication).
  TensorParallel(Communicator* group, TensorParallelOptions options);

  int size() const { return size_; }
  int rank() const { return rank_; }
  bool sequence_parallel() const { return options_.sequence_parallel && size_ > 1; }
  Recompute recompute() const { return options_.recompute; }
  const TensorParallelOptions& options() const { return options_; }
  Communicator* group() const { return group_; }  // nullptr for tp = 1

  // Rows of the token matrix this rank holds between TP regions: N/tp with SP, else N. Throws
  // naming the sizes when N does not divide.
  std::int64_t local_tokens(std::int64_t tokens) const;

  // In-place reduction over the group (no-op for tp = 1).
  void all_reduce(const Tensor& x, ReduceOp op = ReduceOp::kSum) const;
  // Entering a TP region (column-parallel input), forward: SP all-gathers [N/tp, h] -> [N, h];
  // otherwise returns x itself.
  Tensor enter_region(const Tensor& x) const;
  // The backward of enter_region for a partial input gradient [N, h]: SP reduce-scatters to
  // [N/tp, h]; otherwise all-reduces in place and returns it.
  Tensor enter_region_backward(const Tensor& dx_partial) const;
  // Leaving a TP region (row-parallel output), forward: the partial sums [N, h] are reduced:
  // SP reduce-scatters to [N/tp, h], otherwise all-reduces in place.
  Tensor leave_region(const Tensor& y_partial) const;
  // The backward of leave_region: SP all-gathers the output gradient; otherwise returns it.
  Tensor leave_region_backward(const Tensor& dy) const;

 private:
  Communicator* group_;
  TensorParallelOptions options_;
  int size_ = 1;
  int rank_ = 0;
};

}  // namespace trident
