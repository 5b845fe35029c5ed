#include "layers/tensor_parallel.h"

#include "core/error.h"

namespace trident {

Recompute parse_recompute(std::string_view name) {
  if (name == "none") return Recompute::kNone;
  if (name == "selective") return Recompute::kSelective;
  if (name == "full") return Recompute::kFull;
  TRIDENT_FAIL("unknown recompute mode '", name, "': use none, selective or full");
}

std::string_view recompute_name(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
  }
  return "?";
}

TensorParallel::TensorParallel(Communicator* group, TensorParallelOptions options)
    : group_(group), options_(options) {
  if (group_) {
    size_ = group_->size();
    rank_ = group_->rank();
  }
}

std::int64_t TensorParallel::local_tokens(std::int64_t tokens) const {
  if (!sequence_parallel()) return tokens;
  TRIDENT_CHECK(tokens % size_ == 0, "sequence parallelism splits the ", tokens,
                " tokens of a micro-batch (micro_batch_size x seq_len) over tp=", size_,
                " ranks: make micro_batch_size x seq_len divisible by tp, or turn sequence_parallel off");
  return tokens / size_;
}

void TensorParallel::all_reduce(const Tensor& x, ReduceOp op) const {
  if (size_ > 1) group_->all_reduce(x, op);
}

Tensor TensorParallel::enter_region(const Tensor& x) const {
  if (!sequence_parallel()) return x;
  Tensor full = Tensor::empty({x.dim(0) * size_, x.dim(-1)}, x.dtype(), x.device());
  group_->all_gather(x.as_2d(), full);
  return full;
}

Tensor TensorParallel::enter_region_backward(const Tensor& dx_partial) const {
  if (!sequence_parallel()) {
    all_reduce(dx_partial);
    return dx_partial;
  }
  const Tensor full = dx_partial.as_2d();
  Tensor local = Tensor::empty({local_tokens(full.dim(0)), full.dim(1)}, full.dtype(), full.device());
  group_->reduce_scatter(full, local, ReduceOp::kSum);
  return local;
}

Tensor TensorParallel::leave_region(const Tensor& y_partial) const { return enter_region_backward(y_partial); }

Tensor TensorParallel::leave_region_backward(const Tensor& dy) const { return enter_region(dy); }

}  // namespace trident
