// A Communicator that records every call: which collective or point-to-point operation, on which
// group (name and size), with how many bytes. The counterpart of core/op_record.h for
// communication, used by the simulator and by the tests that hold the simulator to real runs.
//
// Two modes behind the one Communicator interface:
// - standalone: a group of `size` ranks in which this is rank `rank`, with no peers at all. Calls
//   move no data (tensors may live on a meta device) and complete at once; the layers see the group
//   size they would see on a real mesh, so they cut shards and issue collectives exactly as there.
// - wrapping: every call is forwarded to a real communicator and also recorded.
//
// Byte counts follow nccl-tests: all_reduce and broadcast the buffer, all_gather the gathered output
// (size × input), reduce_scatter the scattered input (size × output), send/recv the message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "parallel/communicator.h"

namespace trident {

enum class CommKind : std::uint8_t { kAllReduce, kAllGather, kReduceScatter, kBroadcast, kSend, kRecv, kBarrier };
std::string_view comm_kind_name(CommKind kind);  // "all_reduce", "send", …

struct CommRecord {
  CommKind kind = CommKind::kAllReduce;
  std::string group;       // the communicator's name: "tp", "pp", "dp", "embedding", "world", …
  int group_size = 1;
  std::int64_t bytes = 0;  // nccl-tests' size (see above)
  DType dtype = DType::kF32;
  bool async = false;      // issued non-blocking (the *_async collectives, send, recv)
  int peer = -1;           // send/recv: the peer's rank in the group

  std::string str() const;  // "tp all_reduce 2 ranks 524288 B f32"
  friend bool operator==(const CommRecord&, const CommRecord&) = default;
};

class CommSink {
 public:
  virtual ~CommSink() = default;
  virtual void record(const CommRecord& c) = 0;
};

class RecordingCommunicator final : public Communicator {
 public:
  // Standalone group of `size` ranks, this one `rank`.
  RecordingCommunicator(std::string name, int size, int rank, CommSink& sink);
  // Wraps `inner` (not owned; must outlive this), recording into `sink`.
  RecordingCommunicator(Communicator& inner, CommSink& sink);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  std::string backend() const override { return inner_ ? inner_->backend() + "+recording" : "recording"; }

  void all_reduce(const Tensor& x, ReduceOp op) override;
  Request all_reduce_async(const Tensor& x, ReduceOp op) override;
  void all_gather(const Tensor& in, const Tensor& out) override;
  Request all_gather_async(const Tensor& in, const Tensor& out) override;
  void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) override;
  Request reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) override;
  void broadcast(const Tensor& x, int root) override;
  Request send(const Tensor& x, int peer, int tag) override;
  Request recv(const Tensor& x, int peer, int tag) override;
  void barrier() override;
  // Wrapping: the inner communicator's split, wrapped and recorded into the same sink. Standalone
  // groups have no peers to split with: an error.
  std::unique_ptr<Communicator> split(int color, int key, std::string name) override;

 private:
  void note(CommKind kind, const Tensor& t, std::int64_t bytes, bool async, int peer = -1);

  Communicator* inner_ = nullptr;
  std::unique_ptr<Communicator> owned_;  // a split's result, when wrapping
  CommSink& sink_;
  std::string name_;
  int size_ = 1, rank_ = 0;
};

}  // namespace trident
