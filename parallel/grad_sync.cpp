#include "parallel/grad_sync.h"

#include "core/ops.h"

namespace trident {

GradSync::GradSync(std::vector<GradSyncTensor> tensors, Communicator* tp_group, Communicator* tied_group,
                   DataParallel* dp)
    : tensors_(std::move(tensors)), tp_group_(tp_group), tied_group_(tied_group), dp_(dp) {
  TRIDENT_CHECK(!dp_ || dp_->size() == tensors_.size(), "gradient sync over ", tensors_.size(),
                " tensors but data parallelism holds ", dp_ ? dp_->size() : 0);
  for (const GradSyncTensor& t : tensors_)
    TRIDENT_CHECK(t.grad != nullptr, "gradient sync: tensor '", t.name, "' has no gradient");
  received_.assign(tensors_.size(), 0);
}

void GradSync::start_step(int micro_batches) {
  TRIDENT_CHECK(micro_batches >= 1, "a step needs at least one micro-batch, got ", micro_batches);
  micro_batches_ = micro_batches;
  std::fill(received_.begin(), received_.end(), 0);
  if (dp_) dp_->start_step();
}

void GradSync::accumulated(int i) {
  int& n = received_.at(static_cast<std::size_t>(i));
  TRIDENT_CHECK(n < micro_batches_, "gradient of '", tensors_[static_cast<std::size_t>(i)].name, "' received more ",
                "contributions than the step's ", micro_batches_, " micro-batches");
  ++n;
  if (sharded_grads()) return dp_->accumulated(i);  // every micro-batch is reduced as it comes
  if (n == micro_batches_ && !tensors_[static_cast<std::size_t>(i)].tied) final(i);
}

void GradSync::final(int i) {
  const GradSyncTensor& t = tensors_[static_cast<std::size_t>(i)];
  if (t.tp_partial && tp_group_ && tp_group_->size() > 1) tp_group_->all_reduce(*t.grad, ReduceOp::kSum);
  if (dp_) dp_->grad_final(i);
}

void GradSync::finish() {
  std::vector<int> tied;
  for (std::size_t i = 0; i < tensors_.size(); ++i)
    if (tensors_[i].tied) tied.push_back(static_cast<int>(i));
  for (std::size_t i = 0; i < tensors_.size(); ++i)
    TRIDENT_CHECK((tensors_[i].tied && !sharded_grads()) || received_[i] == micro_batches_, "gradient of '",
                  tensors_[i].name, "' received ", received_[i], " of the step's ", micro_batches_,
                  " micro-batch contributions");
  if (sharded_grads()) return finish_sharded(tied);
  if (!tied.empty()) {
    std::vector<Tensor> copies;
    for (int i : tied) copies.push_back(*tensors_[static_cast<std::size_t>(i)].grad);
    tie(copies);
    for (int i : tied) final(i);
  }
  if (dp_) dp_->finish_grad_reduce();
}

// ZeRO-2/3: the gradients exist only as this rank's averaged shards, so the TP partial sums and the
// tied copies are finished on the pieces of them inside the shard. The pieces line up: TP ranks
// share the bucket layout, and the tied copies sit alone in equal buckets on every stage.
void GradSync::finish_sharded(const std::vector<int>& tied) {
  dp_->finish_grad_reduce();
  if (tp_group_ && tp_group_->size() > 1)
    for (std::size_t i = 0; i < tensors_.size(); ++i)
      if (tensors_[i].tp_partial) {
        const Tensor piece = dp_->grad_piece(static_cast<int>(i));
        if (piece.numel() > 0) tp_group_->all_reduce(piece, ReduceOp::kSum);
      }
  if (tied.empty()) return;
  std::vector<Tensor> pieces;
  for (int i : tied) pieces.push_back(dp_->grad_piece(i));
  if (pieces.front().numel() > 0) tie(pieces);
}

void GradSync::tie(const std::vector<Tensor>& copies) {
  // Sum the copies held here into the first, reduce over the tied group, copy back.
  const Tensor& sum = copies.front();
  const Ops& ops = ops_for(sum.device());
  for (std::size_t k = 1; k < copies.size(); ++k) ops.axpy(1.0f, copies[k], sum);
  if (tied_group_ && tied_group_->size() > 1) tied_group_->all_reduce(sum, ReduceOp::kSum);
  for (std::size_t k = 1; k < copies.size(); ++k) copies[k].copy_from(sum);
}

}  // namespace trident
