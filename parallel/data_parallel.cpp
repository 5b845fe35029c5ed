#include "parallel/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "core/ops.h"

namespace trident {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// A flat f32 buffer, labelled in its allocator for as long as DataParallel holds it.
struct DataParallel::Buffer {
  Tensor t;
  MemoryKind kind = MemoryKind::kWeights;

  Buffer() = default;
  Buffer(MemoryKind k, std::int64_t n, Device device) : kind(k) {
    allocator_for(device).label(k, n * 4);  // labelled before it exists: a peak it causes is attributed
    t = Tensor::zeros({n}, DType::kF32, device);
  }
  Buffer(Buffer&& o) noexcept : t(std::move(o.t)), kind(o.kind) { o.t = Tensor(); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      t = std::move(o.t), kind = o.kind;
      o.t = Tensor();
    }
    return *this;
  }
  ~Buffer() { reset(); }
  explicit operator bool() const { return t.defined(); }
  void reset() noexcept {
    if (!t.defined()) return;
    const std::int64_t bytes = static_cast<std::int64_t>(t.nbytes());
    const Device device = t.device();
    t = Tensor();
    allocator_for(device).label(kind, -bytes);
  }
};

struct DataParallel::Bucket {
  int group = 0;
  bool alone = false;
  std::vector<int> members;  // tensor indices, increasing (backward order)
  std::int64_t used = 0, padded = 0, shard_begin = 0, shard_size = 0;
  Buffer params, grads, exp_avg, exp_avg_sq;  // sizes per stage: see the table in the header
  // Stages 0-1: the step's one reduction.
  int pending = 0;  // members not yet final
  bool launched = false;
  Request request;
  // Stages 2-3: the open micro-batch round, and closed rounds being reduce-scattered.
  Buffer round;
  int round_members = 0;  // members accumulated into the open round
  int rounds_closed = 0;  // this step
  struct Reducing {
    Buffer buffer;
    Request request;
  };
  std::deque<Reducing> reducing;
  // Stage 3: the gathered parameters while in use.
  Buffer gathered;
  Request gather;
};

DataParallel::DataParallel(std::vector<DpTensor> tensors, Communicator* group, DataParallelOptions options)
    : group_(group),
      options_(options),
      dp_(group ? group->size() : 1),
      rank_(group ? group->rank() : 0),
      tensors_(std::move(tensors)) {
  TRIDENT_CHECK(options.zero >= 0 && options.zero <= 3, "ZeRO stage ", options.zero,
                " does not exist: use 0 (plain data parallelism), 1 (shard optimizer state), 2 (+ gradients) or 3 (+ "
                "parameters)");
  stage_ = dp_ > 1 ? options.zero : 0;  // with one replica there is nothing to shard
  TRIDENT_CHECK(!tensors_.empty(), "data parallelism over no tensors");
  device_ = tensors_.front().value->device();
  const std::int64_t bucket_elems = std::max<std::int64_t>(1, static_cast<std::int64_t>(options.bucket_bytes / 4));
  // Greedy packing in the given order: a bucket closes once it holds bucket_bytes, at a group
  // boundary, and around a tensor that must be alone.
  std::int64_t fill = 0;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const DpTensor& t = tensors_[i];
    TRIDENT_CHECK(t.value && t.grad && t.value->dtype() == DType::kF32 && t.value->device() == device_,
                  "data parallelism takes f32 parameters with gradients, all on one device (tensor ", i, ")");
    const bool fresh = buckets_.empty() || fill >= bucket_elems || buckets_.back().group != t.group || t.alone ||
                       buckets_.back().alone;
    if (fresh) {
      buckets_.emplace_back();
      buckets_.back().group = t.group;
      buckets_.back().alone = t.alone;
      fill = 0;
    }
    buckets_.back().members.push_back(static_cast<int>(i));
    fill += t.value->numel();
  }
  slots_.resize(tensors_.size());
  shapes_.resize(tensors_.size());
  final_.assign(tensors_.size(), false);
  for (std::size_t bi = 0; bi < buckets_.size(); ++bi) {
    Bucket& b = buckets_[bi];
    for (int i : b.members) {
      const DpTensor& t = tensors_[static_cast<std::size_t>(i)];
      slots_[static_cast<std::size_t>(i)] = {static_cast<int>(bi), b.used, t.value->numel()};
      shapes_[static_cast<std::size_t>(i)] = t.value->shape();
      b.used += t.value->numel();
    }
    b.padded = (b.used + dp_ - 1) / dp_ * dp_;  // reduce-scatter and all-gather need equal shards
    largest_bucket_ = std::max(largest_bucket_, b.padded);
    b.shard_size = stage_ >= 1 ? b.padded / dp_ : b.padded;
    b.shard_begin = stage_ >= 1 ? rank_ * b.shard_size : 0;
    b.params = Buffer(MemoryKind::kWeights, stage_ == 3 ? b.shard_size : b.padded, device_);
    b.grads = Buffer(MemoryKind::kGradients, stage_ >= 2 ? b.shard_size : b.padded, device_);
    b.exp_avg = Buffer(MemoryKind::kOptimizerState, b.shard_size, device_);
    b.exp_avg_sq = Buffer(MemoryKind::kOptimizerState, b.shard_size, device_);
    // The tensors' values move into the buffers; the handles become views (stage 3: none for now).
    for (int i : b.members) {
      const DpTensor& t = tensors_[static_cast<std::size_t>(i)];
      const Slot& s = slot(i);
      const Tensor flat = t.value->view({s.size});
      if (stage_ == 3) {
        const std::int64_t lo = std::max(s.begin, b.shard_begin), hi = std::min(s.begin + s.size, b.shard_begin + b.shard_size);
        if (lo < hi) b.params.t.slice0(lo - b.shard_begin, hi - b.shard_begin).copy_from(flat.slice0(lo - s.begin, hi - s.begin));
      } else {
        b.params.t.slice0(s.begin, s.begin + s.size).copy_from(flat);
      }
    }
    if (stage_ == 3) unbind(b, /*values=*/true);
    else bind(b, b.params.t, /*values=*/true);
    if (stage_ >= 2) unbind(b, /*values=*/false);
    else bind(b, b.grads.t, /*values=*/false);
  }
}

DataParallel::~DataParallel() {
  // Requests in flight finish before their buffers go (Request's destructor waits).
  for (Bucket& b : buckets_) {
    b.request = Request();
    b.gather = Request();
    b.reducing.clear();
  }
}

void DataParallel::bind(const Bucket& b, const Tensor& buffer, bool values) {
  for (int i : b.members) {
    const Slot& s = slot(i);
    const DpTensor& t = tensors_[static_cast<std::size_t>(i)];
    *(values ? t.value : t.grad) = buffer.slice0(s.begin, s.begin + s.size).view(shapes_[static_cast<std::size_t>(i)]);
  }
}

void DataParallel::unbind(const Bucket& b, bool values) {
  for (int i : b.members) {
    const DpTensor& t = tensors_[static_cast<std::size_t>(i)];
    *(values ? t.value : t.grad) = Tensor();
  }
}

DataParallel::Bucket& DataParallel::bucket_of(int tensor) { return buckets_[static_cast<std::size_t>(slot(tensor).bucket)]; }

int DataParallel::num_buckets() const { return static_cast<int>(buckets_.size()); }
std::int64_t DataParallel::bucket_size(int b) const { return buckets_.at(static_cast<std::size_t>(b)).padded; }
std::int64_t DataParallel::shard_begin(int b) const { return buckets_.at(static_cast<std::size_t>(b)).shard_begin; }
std::int64_t DataParallel::shard_size(int b) const { return buckets_.at(static_cast<std::size_t>(b)).shard_size; }

Tensor DataParallel::param_shard(int bi) const {
  const Bucket& b = buckets_.at(static_cast<std::size_t>(bi));
  return stage_ == 1 || stage_ == 2 ? b.params.t.slice0(b.shard_begin, b.shard_begin + b.shard_size) : b.params.t;
}

Tensor DataParallel::grad_shard(int bi) const {
  const Bucket& b = buckets_.at(static_cast<std::size_t>(bi));
  return stage_ == 1 ? b.grads.t.slice0(b.shard_begin, b.shard_begin + b.shard_size) : b.grads.t;
}

Tensor DataParallel::exp_avg_shard(int b) const { return buckets_.at(static_cast<std::size_t>(b)).exp_avg.t; }
Tensor DataParallel::exp_avg_sq_shard(int b) const { return buckets_.at(static_cast<std::size_t>(b)).exp_avg_sq.t; }

Tensor DataParallel::grad_piece(int tensor, std::int64_t* offset_in_tensor) const {
  const Slot& s = slot(tensor);
  const Bucket& b = buckets_[static_cast<std::size_t>(s.bucket)];
  const std::int64_t shard_end = b.shard_begin + b.shard_size;
  const std::int64_t lo = std::clamp(s.begin, b.shard_begin, shard_end);  // empty when the tensor lies elsewhere
  const std::int64_t hi = std::clamp(s.begin + s.size, lo, shard_end);
  if (offset_in_tensor) *offset_in_tensor = std::max<std::int64_t>(0, lo - s.begin);
  return grad_shard(s.bucket).slice0(lo - b.shard_begin, hi - b.shard_begin);
}

MemoryByKind DataParallel::model_state_bytes() const {
  MemoryByKind m;
  for (const Bucket& b : buckets_)
    for (const Buffer* buf : {&b.params, &b.grads, &b.exp_avg, &b.exp_avg_sq})
      m.bytes[static_cast<std::size_t>(buf->kind)] += static_cast<std::int64_t>(buf->t.nbytes());
  return m;
}

void DataParallel::timed(const std::function<void()>& wait) {
  const Clock::time_point t0 = Clock::now();
  wait();
  exposed_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- the step -----------------------------------------------------------------------------------

void DataParallel::zero_grads() {
  for (Bucket& b : buckets_) ops_for(device_).fill(b.grads.t, 0.0f);
}

void DataParallel::start_step() {
  std::fill(final_.begin(), final_.end(), false);
  for (Bucket& b : buckets_) {
    TRIDENT_CHECK(!b.request.valid() && b.reducing.empty() && !b.round,
                  "start_step while a gradient reduction of the last step is in flight");
    b.pending = static_cast<int>(b.members.size());
    b.launched = false;
    b.round_members = 0;
    b.rounds_closed = 0;
  }
  exposed_s_ = 0.0;
}

// Stages 0-1: one reduction per bucket and step, once every member is final.
void DataParallel::launch(Bucket& b) {
  b.launched = true;
  if (dp_ == 1) return;
  const Tensor& g = b.grads.t;
  timed([&] {  // the launch itself: checks and, for device tensors over MPI, staging
    if (stage_ == 1) b.request = group_->reduce_scatter_async(g, g.slice0(b.shard_begin, b.shard_begin + b.shard_size), ReduceOp::kAvg);
    else b.request = group_->all_reduce_async(g, ReduceOp::kAvg);
  });
}

void DataParallel::grad_final(int tensor) {
  TRIDENT_CHECK(stage_ <= 1, "grad_final is the event of ZeRO stages 0-1; stage ", stage_, " takes accumulated()");
  TRIDENT_CHECK(!final_.at(static_cast<std::size_t>(tensor)), "gradient of tensor ", tensor, " was already final this step");
  final_[static_cast<std::size_t>(tensor)] = true;
  Bucket& b = bucket_of(tensor);
  if (--b.pending == 0 && options_.overlap) launch(b);
}

// Stages 2-3: every micro-batch's gradients of a bucket are reduce-scattered as soon as the bucket
// holds them, in place in a buffer of their own (the round), and added into the gradient shard when
// that completes.
void DataParallel::open_round(Bucket& b) {
  if (b.round) return;  // already accumulating (the tied wte is accumulated twice per micro-batch)
  b.round = Buffer(MemoryKind::kCommBuffers, b.padded, device_);
  bind(b, b.round.t, /*values=*/false);
}

void DataParallel::accumulated(int tensor) {
  TRIDENT_CHECK(stage_ >= 2, "accumulated is the event of ZeRO stages 2-3; stage ", stage_, " takes grad_final()");
  Bucket& b = bucket_of(tensor);
  TRIDENT_CHECK(b.round, "gradient of tensor ", tensor, " was accumulated without before_use(kAccumulate) first");
  if (++b.round_members == static_cast<int>(b.members.size())) close_round(b);
  for (Bucket& other : buckets_) harvest(other, /*wait=*/false);
}

void DataParallel::close_round(Bucket& b) {
  unbind(b, /*values=*/false);
  Bucket::Reducing r{std::move(b.round), Request()};
  b.round_members = 0;
  ++b.rounds_closed;
  const Tensor& g = r.buffer.t;
  timed([&] { r.request = group_->reduce_scatter_async(g, g.slice0(b.shard_begin, b.shard_begin + b.shard_size), ReduceOp::kAvg); });
  b.reducing.push_back(std::move(r));
  in_flight_.push_back(static_cast<int>(&b - buckets_.data()));
  in_flight_elems_ += b.padded;
  // Without overlap every reduction completes here. With it, the rounds in flight hold at most the
  // largest bucket's worth of gradients, over all buckets and micro-batches (double buffering: one
  // bucket reduced while the next accumulates): when the communication falls behind the backward,
  // the backward waits for the oldest round instead of piling up buffers, which would cost more
  // memory than sharding the gradients saves.
  if (!options_.overlap) return harvest(b, /*wait=*/true);
  while (in_flight_elems_ > largest_bucket_) reap(buckets_[static_cast<std::size_t>(in_flight_.front())], /*wait=*/true);
}

// Adds a bucket's oldest round into its gradient shard once its reduce-scatter completed (waiting
// for it when `wait`); false if it has not.
bool DataParallel::reap(Bucket& b, bool wait) {
  Bucket::Reducing& r = b.reducing.front();
  if (wait) timed([&] { r.request.wait(); });
  else if (!r.request.test()) return false;
  ops_for(device_).axpy(1.0f, r.buffer.t.slice0(b.shard_begin, b.shard_begin + b.shard_size), b.grads.t);
  b.reducing.pop_front();
  in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), static_cast<int>(&b - buckets_.data())));
  in_flight_elems_ -= b.padded;
  return true;
}

// Adds completed rounds into the gradient shard (all of them when `wait`), oldest first.
void DataParallel::harvest(Bucket& b, bool wait) {
  while (!b.reducing.empty())
    if (!reap(b, wait)) return;
}

void DataParallel::finish_grad_reduce() {
  if (stage_ <= 1) {
    for (Bucket& b : buckets_)
      if (!b.launched) launch(b);
    timed([&] {
      for (Bucket& b : buckets_) {
        if (b.request.valid()) b.request.wait();
        b.request = Request();
      }
    });
    return;
  }
  for (Bucket& b : buckets_) {
    TRIDENT_CHECK(!b.round, "finish_grad_reduce: a bucket's micro-batch gradients are incomplete (", b.round_members,
                  " of ", b.members.size(), " tensors accumulated)");
    harvest(b, /*wait=*/true);
  }
  end_pass();  // stage 3: no gathered parameters outlive the step
}

void DataParallel::gather_params() {
  if (stage_ != 1 && stage_ != 2) return;
  timed([&] {
    for (Bucket& b : buckets_)
      group_->all_gather(b.params.t.slice0(b.shard_begin, b.shard_begin + b.shard_size), b.params.t);
  });
}

// ---- stage 3: parameters gathered around their use ----------------------------------------------

void DataParallel::request_gather(Bucket& b) {
  if (b.gathered) return;
  b.gathered = Buffer(MemoryKind::kCommBuffers, b.padded, device_);
  timed([&] { b.gather = group_->all_gather_async(b.params.t, b.gathered.t); });
}

void DataParallel::ensure_gathered(Bucket& b) {
  request_gather(b);
  if (!b.gather.valid()) return;  // gathered and bound already
  timed([&] { b.gather.wait(); });
  b.gather = Request();
  bind(b, b.gathered.t, /*values=*/true);
}

void DataParallel::release_gathered(Bucket& b) {
  if (!b.gathered) return;
  if (b.gather.valid()) timed([&] { b.gather.wait(); });
  b.gather = Request();
  unbind(b, /*values=*/true);
  b.gathered.reset();
}

void DataParallel::before_use(ParamUse use, const std::vector<int>& tensors) {
  for (Bucket& b : buckets_) harvest(b, /*wait=*/false);
  if (use == ParamUse::kAccumulate) {
    if (stage_ >= 2)
      for (int i : tensors) open_round(bucket_of(i));
    return;
  }
  if (stage_ != 3 || tensors.empty()) return;
  std::set<int> needed;
  for (int i : tensors) needed.insert(slot(i).bucket);
  // The next bucket of this pass: a forward runs the buckets from the last to the first (they are in
  // backward order), a backward from the first to the last. Tied copies, alone in their buckets,
  // are used out of that order and do not steer it.
  int lo = -1, hi = -1;
  for (int bi : needed)
    if (!buckets_[static_cast<std::size_t>(bi)].alone) lo = lo < 0 ? bi : std::min(lo, bi), hi = std::max(hi, bi);
  int next = -1;
  if (lo >= 0) {
    const int candidate = use == ParamUse::kForward ? lo - 1 : hi + 1;
    if (candidate >= 0 && candidate < num_buckets() &&
        buckets_[static_cast<std::size_t>(candidate)].group == buckets_[static_cast<std::size_t>(lo)].group &&
        !buckets_[static_cast<std::size_t>(candidate)].alone)
      next = candidate;
  }
  // Buckets the pass has left go; what it needs now is requested first, then the prefetch, so the
  // needed gathers are ahead of it in the group's queue.
  for (int bi = 0; bi < num_buckets(); ++bi)
    if (!needed.count(bi) && bi != next) release_gathered(buckets_[static_cast<std::size_t>(bi)]);
  for (int bi : needed) request_gather(buckets_[static_cast<std::size_t>(bi)]);
  if (next >= 0 && options_.overlap) request_gather(buckets_[static_cast<std::size_t>(next)]);
  for (int bi : needed) ensure_gathered(buckets_[static_cast<std::size_t>(bi)]);
}

void DataParallel::end_pass() {
  if (stage_ != 3) return;
  for (Bucket& b : buckets_) release_gathered(b);
}

// ---- checkpoints --------------------------------------------------------------------------------

void DataParallel::for_each_full_state(const FullStateFn& fn) {
  for (Bucket& b : buckets_) {
    // Whole buffers of the bucket: the rank's own when it keeps them whole, else gathered.
    auto whole = [&](const Buffer& buf, bool sharded) {
      if (!sharded) return buf.t;
      Tensor full = Tensor::empty({b.padded}, DType::kF32, device_);
      timed([&] { group_->all_gather(buf.t, full); });
      return full;
    };
    const Tensor params = whole(b.params, stage_ == 3);
    const Tensor m = whole(b.exp_avg, stage_ >= 1), v = whole(b.exp_avg_sq, stage_ >= 1);
    for (int i : b.members) {
      const Slot& s = slot(i);
      const Shape& shape = shapes_[static_cast<std::size_t>(i)];
      fn(i, params.slice0(s.begin, s.begin + s.size).view(shape), m.slice0(s.begin, s.begin + s.size).view(shape),
         v.slice0(s.begin, s.begin + s.size).view(shape));
    }
  }
}

void DataParallel::load_full_state(int tensor, const Tensor& value, const Tensor& exp_avg, const Tensor& exp_avg_sq) {
  const Slot& s = slot(tensor);
  Bucket& b = buckets_[static_cast<std::size_t>(s.bucket)];
  for (const Tensor* t : {&value, &exp_avg, &exp_avg_sq})
    TRIDENT_CHECK(t->numel() == s.size && t->dtype() == DType::kF32, "load_full_state: tensor ", tensor, " holds ",
                  s.size, " f32 elements, got ", t->shape().str(), " ", dtype_name(t->dtype()));
  // Copies the part of `src` (the whole tensor) that `dst` (a bucket buffer starting at element
  // `dst_begin` of the bucket, `dst_size` long) holds.
  auto place = [&](const Tensor& src, const Tensor& dst, std::int64_t dst_begin, std::int64_t dst_size) {
    const std::int64_t lo = std::max(s.begin, dst_begin), hi = std::min(s.begin + s.size, dst_begin + dst_size);
    if (lo >= hi) return;
    dst.slice0(lo - dst_begin, hi - dst_begin).copy_from(src.view({s.size}).slice0(lo - s.begin, hi - s.begin).to(device_));
  };
  if (stage_ == 3) place(value, b.params.t, b.shard_begin, b.shard_size);
  else place(value, b.params.t, 0, b.padded);
  place(exp_avg, b.exp_avg.t, b.shard_begin, b.shard_size);
  place(exp_avg_sq, b.exp_avg_sq.t, b.shard_begin, b.shard_size);
}

}  // namespace trident
