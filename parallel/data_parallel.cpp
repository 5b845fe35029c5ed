#include "parallel/data_parallel.h"

#include <chrono>

#include "core/ops.h"

namespace trident {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

DataParallel::DataParallel(std::vector<DpTensor> tensors, Communicator* group, DataParallelOptions options)
    : group_(group), options_(options), dp_(group ? group->size() : 1) {
  const std::int64_t bucket_elems = std::max<std::int64_t>(1, static_cast<std::int64_t>(options.bucket_bytes / 4));
  // Greedy packing in the given order: a bucket closes once it holds bucket_bytes.
  std::vector<std::vector<int>> groups(1);
  std::int64_t fill = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    TRIDENT_CHECK(tensors[i].value && tensors[i].grad && tensors[i].value->dtype() == DType::kF32,
                  "data parallelism takes f32 parameters with gradients (tensor ", i, ")");
    if (fill >= bucket_elems) {
      groups.emplace_back();
      fill = 0;
    }
    groups.back().push_back(static_cast<int>(i));
    fill += tensors[i].value->numel();
  }
  slots_.resize(tensors.size());
  shapes_.resize(tensors.size());
  for (const auto& members : groups) {
    if (members.empty()) continue;
    Bucket b;
    b.members = members;
    for (int i : members) b.used += tensors[static_cast<std::size_t>(i)].value->numel();
    const std::int64_t padded = (b.used + dp_ - 1) / dp_ * dp_;  // reduce-scatter needs equal shards
    const Device dev = tensors[static_cast<std::size_t>(members.front())].value->device();
    b.params = Tensor::zeros({padded}, DType::kF32, dev);
    b.grads = Tensor::zeros({padded}, DType::kF32, dev);
    b.exp_avg = Tensor::zeros({padded}, DType::kF32, dev);
    b.exp_avg_sq = Tensor::zeros({padded}, DType::kF32, dev);
    const int rank = group_ ? group_->rank() : 0;
    b.shard_size = options_.zero1 ? padded / dp_ : padded;
    b.shard_begin = options_.zero1 ? rank * b.shard_size : 0;
    if (options_.zero1 && dp_ > 1) b.grad_shard = Tensor::zeros({b.shard_size}, DType::kF32, dev);
    std::int64_t offset = 0;
    for (int i : members) {
      DpTensor& t = tensors[static_cast<std::size_t>(i)];
      const std::int64_t n = t.value->numel();
      shapes_[static_cast<std::size_t>(i)] = t.value->shape();
      slots_[static_cast<std::size_t>(i)] = {static_cast<int>(buckets_.size()), offset, n};
      Tensor pv = b.params.slice0(offset, offset + n).view(t.value->shape());
      pv.copy_from(*t.value);
      *t.value = pv;
      Tensor gv = b.grads.slice0(offset, offset + n).view(t.grad->shape());
      gv.copy_from(*t.grad);
      *t.grad = gv;
      offset += n;
    }
    buckets_.push_back(std::move(b));
  }
  final_.assign(tensors.size(), false);
}

Tensor DataParallel::exp_avg(int i) const {
  const Slot& s = slot(i);
  return buckets_[static_cast<std::size_t>(s.bucket)].exp_avg.slice0(s.begin, s.begin + s.size).view(shapes_[static_cast<std::size_t>(i)]);
}

Tensor DataParallel::exp_avg_sq(int i) const {
  const Slot& s = slot(i);
  return buckets_[static_cast<std::size_t>(s.bucket)].exp_avg_sq.slice0(s.begin, s.begin + s.size).view(shapes_[static_cast<std::size_t>(i)]);
}

Tensor DataParallel::reduced_grads(const Bucket& b) const {
  if (options_.zero1 && dp_ > 1) return b.grad_shard;
  return b.grads.slice0(b.shard_begin, b.shard_begin + b.shard_size);
}

void DataParallel::zero_grads() {
  for (Bucket& b : buckets_) ops_for(b.grads.device()).fill(b.grads, 0.0f);
}

void DataParallel::start_step() {
  std::fill(final_.begin(), final_.end(), false);
  for (Bucket& b : buckets_) {
    TRIDENT_CHECK(!b.request.valid(), "start_step while a bucket reduction of the last step is in flight");
    b.pending = static_cast<int>(b.members.size());
    b.launched = false;
  }
  comm_s_ = 0.0;
}

void DataParallel::launch(Bucket& b) {
  b.launched = true;
  if (dp_ == 1) return;
  const Clock::time_point t0 = Clock::now();
  if (options_.zero1) {
    b.request = group_->reduce_scatter_async(b.grads, b.grad_shard, ReduceOp::kAvg);
  } else {
    b.request = group_->all_reduce_async(b.grads, ReduceOp::kAvg);
  }
  comm_s_ += since(t0);
}

void DataParallel::grad_final(int tensor) {
  TRIDENT_CHECK(!final_.at(static_cast<std::size_t>(tensor)), "gradient of tensor ", tensor,
                " was already final this step");
  final_[static_cast<std::size_t>(tensor)] = true;
  Bucket& b = buckets_[static_cast<std::size_t>(slot(tensor).bucket)];
  if (--b.pending == 0 && options_.overlap) launch(b);
  progress();
}

void DataParallel::progress() {
  if (dp_ == 1) return;
  const Clock::time_point t0 = Clock::now();
  for (Bucket& b : buckets_)
    if (b.request.valid() && b.request.test()) b.request = Request();
  comm_s_ += since(t0);
}

void DataParallel::finish_grad_reduce() {
  for (Bucket& b : buckets_)
    if (!b.launched) launch(b);
  const Clock::time_point t0 = Clock::now();
  for (Bucket& b : buckets_) {
    if (b.request.valid()) b.request.wait();
    b.request = Request();
  }
  comm_s_ += since(t0);
}

void DataParallel::gather_params() {
  if (!options_.zero1 || dp_ == 1) return;
  const Clock::time_point t0 = Clock::now();
  for (Bucket& b : buckets_) group_->all_gather(b.params.slice0(b.shard_begin, b.shard_begin + b.shard_size), b.params);
  comm_s_ += since(t0);
}

void DataParallel::gather_optimizer_state() {
  if (!options_.zero1 || dp_ == 1) return;
  for (Bucket& b : buckets_) {
    group_->all_gather(b.exp_avg.slice0(b.shard_begin, b.shard_begin + b.shard_size), b.exp_avg);
    group_->all_gather(b.exp_avg_sq.slice0(b.shard_begin, b.shard_begin + b.shard_size), b.exp_avg_sq);
  }
}

}  // namespace trident
