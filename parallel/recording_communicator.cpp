#include "parallel/recording_communicator.h"

#include <sstream>

#include "core/error.h"

namespace trident {

std::string_view comm_kind_name(CommKind kind) {
  switch (kind) {
    case CommKind::kAllReduce: return "all_reduce";
    case CommKind::kAllGather: return "all_gather";
    case CommKind::kReduceScatter: return "reduce_scatter";
    case CommKind::kBroadcast: return "broadcast";
    case CommKind::kSend: return "send";
    case CommKind::kRecv: return "recv";
    case CommKind::kBarrier: return "barrier";
  }
  return "?";
}

std::string CommRecord::str() const {
  std::ostringstream os;
  os << group << ' ' << comm_kind_name(kind) << ' ' << group_size << " ranks " << bytes << " B " << dtype_name(dtype);
  if (peer >= 0) os << " peer " << peer;
  return os.str();
}

namespace {
// A standalone group's operations finish as they are issued.
class DoneRequest final : public Request::Impl {
 public:
  bool test() override { return true; }
  void wait() override {}
};
Request done() { return Request(std::make_unique<DoneRequest>()); }
}  // namespace

RecordingCommunicator::RecordingCommunicator(std::string name, int size, int rank, CommSink& sink)
    : sink_(sink), name_(std::move(name)), size_(size), rank_(rank) {
  TRIDENT_CHECK(size >= 1 && rank >= 0 && rank < size, "recording communicator '", name_, "': rank ", rank,
                " is outside a group of ", size, " ranks");
}

RecordingCommunicator::RecordingCommunicator(Communicator& inner, CommSink& sink)
    : inner_(&inner), sink_(sink), name_(inner.name()), size_(inner.size()), rank_(inner.rank()) {
  busy_ = inner.busy_counter();  // time blocked stays the inner group's
  timeout_ = inner.timeout();
}

void RecordingCommunicator::note(CommKind kind, const Tensor& t, std::int64_t bytes, bool async, int peer) {
  sink_.record(CommRecord{kind, name_, size_, bytes, t.dtype(), async, peer});
}

void RecordingCommunicator::all_reduce(const Tensor& x, ReduceOp op) {
  note(CommKind::kAllReduce, x, static_cast<std::int64_t>(x.nbytes()), false);
  if (inner_) inner_->all_reduce(x, op);
}

Request RecordingCommunicator::all_reduce_async(const Tensor& x, ReduceOp op) {
  note(CommKind::kAllReduce, x, static_cast<std::int64_t>(x.nbytes()), true);
  return inner_ ? inner_->all_reduce_async(x, op) : done();
}

void RecordingCommunicator::all_gather(const Tensor& in, const Tensor& out) {
  note(CommKind::kAllGather, in, static_cast<std::int64_t>(out.nbytes()), false);
  if (inner_) inner_->all_gather(in, out);
}

Request RecordingCommunicator::all_gather_async(const Tensor& in, const Tensor& out) {
  note(CommKind::kAllGather, in, static_cast<std::int64_t>(out.nbytes()), true);
  return inner_ ? inner_->all_gather_async(in, out) : done();
}

void RecordingCommunicator::reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) {
  note(CommKind::kReduceScatter, in, static_cast<std::int64_t>(in.nbytes()), false);
  if (inner_) inner_->reduce_scatter(in, out, op);
}

Request RecordingCommunicator::reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) {
  note(CommKind::kReduceScatter, in, static_cast<std::int64_t>(in.nbytes()), true);
  return inner_ ? inner_->reduce_scatter_async(in, out, op) : done();
}

void RecordingCommunicator::broadcast(const Tensor& x, int root) {
  note(CommKind::kBroadcast, x, static_cast<std::int64_t>(x.nbytes()), false);
  if (inner_) inner_->broadcast(x, root);
}

Request RecordingCommunicator::send(const Tensor& x, int peer, int tag) {
  note(CommKind::kSend, x, static_cast<std::int64_t>(x.nbytes()), true, peer);
  return inner_ ? inner_->send(x, peer, tag) : done();
}

Request RecordingCommunicator::recv(const Tensor& x, int peer, int tag) {
  note(CommKind::kRecv, x, static_cast<std::int64_t>(x.nbytes()), true, peer);
  return inner_ ? inner_->recv(x, peer, tag) : done();
}

void RecordingCommunicator::barrier() {
  sink_.record(CommRecord{CommKind::kBarrier, name_, size_, 0, DType::kF32, false, -1});
  if (inner_) inner_->barrier();
}

std::unique_ptr<Communicator> RecordingCommunicator::split(int color, int key, std::string name) {
  TRIDENT_CHECK(inner_ != nullptr, "recording communicator '", name_, "' is standalone (no peers): it cannot split; ",
                "make a standalone group of the wanted size instead");
  std::unique_ptr<Communicator> part = inner_->split(color, key, std::move(name));
  if (!part) return nullptr;
  auto wrapped = std::make_unique<RecordingCommunicator>(*part, sink_);
  wrapped->owned_ = std::move(part);
  return wrapped;
}

}  // namespace trident
