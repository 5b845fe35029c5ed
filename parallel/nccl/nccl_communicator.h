// NCCL backend of Communicator: tensors on this rank's GPU, moved by NCCL.
//
// Streams. Each communicator enqueues on the CudaContext side stream named after its group
// ("world", "tp", "pp", "dp", "embedding": one per mesh axis, so axes overlap each other and the
// compute). Communicators with the same name share that stream. Before an operation the side stream
// waits for the compute stream (stream_wait), so inputs the compute stream produced are ready and
// memory the caching allocator recycled on the compute stream is no longer in use there. After a
// blocking call the compute stream waits for the side stream: later ops (all on the compute
// stream) see the result. The host does not block on collectives; device-side ordering is enough.
//
// Requests. test() queries the operation's completion event. wait() makes the compute stream wait
// for that event (it does not block the host) after checking that the operation is not overdue and
// its communicator reported no error (CommTimeout otherwise). A Request keeps its tensors alive;
// one dropped without wait() still orders the compute stream after its operation, so its buffers
// are never recycled under a transfer.
//
// Point-to-point. NCCL has no tags (the tag argument is checked to be >= 0 and otherwise ignored):
// sends and receives between two ranks match in posting order per direction. NCCL also executes
// all operations of one communicator in issue order on one stream, so a receive posted early would
// hold back every later operation of that communicator, sends included. connect_ring_neighbors()
// therefore opens, per ring neighbour and direction, a two-rank channel communicator on its own
// stream ("pp:send:1", "pp:recv:3"): a receive waiting on one channel never blocks a send on
// another. Each channel is connected (one warm-up transfer) right there: NCCL's connection
// handshake on a first transfer blocks the host until the peer transfers too, which would deadlock
// a ring of ranks that all post their receives first. Transfers with other peers (or before
// connect_ring_neighbors) go through the group's own communicator, in issue order with its
// collectives: there a receive posted before the matching send of the same pair of ranks
// deadlocks, so order them as a blocking program would. Transfers
// to oneself are copies on the group's stream, matched in posting order; waiting on one before its
// counterpart was posted throws CommTimeout at once (nothing else could ever post it).
//
// No hangs: every operation is watched by the NCCL watchdog (parallel/nccl/nccl_watchdog.h). An
// operation outstanding longer than timeout(), or an asynchronous NCCL error, ends the job with a
// message naming the group, the operation, its members and the elapsed time: an NCCL kernel stuck
// on a peer cannot be cancelled, so the process cannot carry on after it.
//
// busy_seconds: the device time of this group's operations on their communication streams (end −
// start of timing events around each operation, including time spent waiting for peers), added
// when completion is observed: by the watchdog within a few milliseconds, at once by test(),
// barrier() and synchronize(). Unlike the MPI backend it is not time the host spent blocked: an
// operation overlapped with compute counts in full.
//
// Teardown: waits for outstanding work, then ncclCommFinalize + ncclCommDestroy of the channel
// communicators (in creation order) and the group's own. NCCL may synchronise the members of a
// communicator while destroying it, so every rank must destroy its communicators in the same order
// (DeviceMesh does); a teardown that hangs is ended by the watchdog like any other operation.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "parallel/comm_checks.h"
#include "parallel/communicator.h"

namespace trident {

namespace nccl {
struct CommState;
class WatchedOp;
struct SelfMailbox;
}  // namespace nccl

class NcclCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm`, an initialised NCCL communicator on GPU `device`; `members` are the
  // world ranks of its members in group-rank order (empty when unknown). Made by make_nccl_world()
  // and split().
  NcclCommunicator(ncclComm_t comm, std::string name, int device, std::vector<int> members,
                   std::chrono::milliseconds timeout);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  std::string backend() const override { return "nccl"; }

  void all_reduce(const Tensor& x, ReduceOp op) override;
  Request all_reduce_async(const Tensor& x, ReduceOp op) override;
  void all_gather(const Tensor& in, const Tensor& out) override;
  Request all_gather_async(const Tensor& in, const Tensor& out) override;
  void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) override;
  Request reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) override;
  void broadcast(const Tensor& x, int root) override;
  Request send(const Tensor& x, int peer, int tag) override;
  Request recv(const Tensor& x, int peer, int tag) override;
  void connect_ring_neighbors() override;
  // An all-reduce of one element, then the host waits for it (with the timeout).
  void barrier() override;
  // ncclCommSplit; the new group inherits the timeout and runs on the stream named `name`.
  std::unique_ptr<Communicator> split(int color, int key, std::string name) override;

  int device() const { return device_; }
  ncclComm_t handle() const;
  cudaStream_t stream() const { return group_.stream; }  // the group's communication stream
  // Blocks the host until every operation issued so far on this communicator (and its channels)
  // completed, with the timeout; busy_seconds() then includes all of them.
  void synchronize();

 private:
  // One NCCL communicator and the stream its operations run on: the group's own, or a ring channel.
  struct Channel {
    std::shared_ptr<nccl::CommState> state;
    cudaStream_t stream = nullptr;
    std::string stream_name;
    int peer = -1;  // channels: the other member's rank in the channel communicator
  };

  std::string where() const;
  int world_rank() const;
  // Enqueues `issue(comm, stream)` (the NCCL calls) on `channel` as one watched operation; the
  // caller opens the NVTX range.
  std::shared_ptr<nccl::WatchedOp> enqueue(const Channel& channel, const comm::OpDesc& desc,
                                           const std::function<void(ncclComm_t, cudaStream_t)>& issue);
  // The compute stream waits for `op` (after a blocking call).
  void order_compute_after(const nccl::WatchedOp& op);
  std::shared_ptr<nccl::WatchedOp> start_all_reduce(const Tensor& x, ReduceOp op);
  std::shared_ptr<nccl::WatchedOp> start_all_gather(const Tensor& in, const Tensor& out);
  std::shared_ptr<nccl::WatchedOp> start_reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op);
  Request make_request(std::shared_ptr<nccl::WatchedOp> op, std::vector<Tensor> keep) const;

  // Point-to-point (nccl_p2p.cpp).
  Request post_p2p(bool send, const Tensor& x, int peer, int tag);
  Request post_self(bool send, const Tensor& x, const comm::OpDesc& desc);
  const Channel* ring_channel(int peer, bool send) const;
  ncclComm_t split_handle(ncclComm_t parent, int color, int key, const std::string& what);
  int add_channel(ncclComm_t comm, const std::string& name, int pair_rank, std::vector<int> members);
  void destroy(const std::shared_ptr<nccl::CommState>& state) noexcept;

  std::string name_;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  cudaStream_t compute_ = nullptr;
  Channel group_;
  std::vector<Channel> ring_;  // channel communicators in creation order (torn down in that order)
  int to_next_ = -1, from_next_ = -1, to_prev_ = -1, from_prev_ = -1;  // indices into ring_
  bool ring_connected_ = false;
  std::shared_ptr<nccl::SelfMailbox> self_;  // transfers to self waiting for their counterpart
  void* barrier_word_ = nullptr;             // one i32 on the device, reduced by barrier()
};

// The NCCL world: rank 0 of `mpi_world` makes the unique id, the MPI world broadcasts it (a host
// tensor of its bytes), and every rank joins with ncclCommInitRank on GPU `device`. Collective over
// mpi_world; the result has its name, ranks and timeout. Throws when the GPU is missing, or NCCL
// refuses (e.g. two ranks on one GPU).
std::unique_ptr<Communicator> make_nccl_world(Communicator& mpi_world, int device);

}  // namespace trident
