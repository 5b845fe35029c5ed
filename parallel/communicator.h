// One communicator interface for every backend (MPI on CPUs now, NCCL on GPUs behind the same
// calls). A Communicator is a group of ranks; the mesh splits the world into TP, PP, DP and
// embedding groups, each a Communicator with its own name used in every error message.
//
// Semantics shared by all backends:
// - Collectives are called by every member, in the same order, with equal shapes.
// - Tensors must live on the backend's device (host for MPI).
// - Nothing waits forever: an operation outstanding longer than timeout() either throws
//   trident::CommTimeout naming the group, the operation and the peers (point-to-point waits on the
//   MPI backend, which can cancel a receive), or — a collective, which no backend can cancel — ends
//   the job through the backend's watchdog with that message on stderr.
// - busy_seconds() is the time this group's operations were in progress on this rank: a blocking
//   call's duration, a non-blocking collective's run time on the backend (MPI: on the group's
//   communication thread; NCCL: on its stream), a point-to-point request's wait. Time the caller
//   itself spent blocked on non-blocking collectives is the caller's to measure (DataParallel does).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace trident {

enum class ReduceOp { kSum, kAvg, kMax };
std::string_view reduce_op_name(ReduceOp op);

// A communication call that did not complete in time: a peer died, hangs, or called something else.
class CommTimeout : public Error {
 public:
  using Error::Error;
};

// Handle to a non-blocking operation. wait() blocks (with the communicator's timeout); test()
// polls. Destroying an unfinished request waits for it, so buffers are never freed under a
// transfer in flight.
class Request {
 public:
  class Impl {
   public:
    virtual ~Impl() = default;
    virtual bool test() = 0;  // true once complete
    virtual void wait() = 0;  // blocks; throws CommTimeout past the communicator's timeout
  };

  Request() = default;
  explicit Request(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&& other) noexcept;
  ~Request();

  bool valid() const { return impl_ != nullptr; }
  bool test();
  void wait();

 private:
  std::unique_ptr<Impl> impl_;
};

// Waits for every request; the first timeout is rethrown after the others were given their chance.
void wait_all(std::vector<Request>& requests);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const std::string& name() const = 0;  // "world", "tp", "pp", "dp", "embedding", …
  virtual std::string backend() const = 0;      // "mpi", "nccl"

  // In place over all members; kAvg divides by size().
  virtual void all_reduce(const Tensor& x, ReduceOp op) = 0;
  // Non-blocking all-reduce (data-parallel gradient buckets overlap with backward through this).
  virtual Request all_reduce_async(const Tensor& x, ReduceOp op) = 0;
  // out[size * n] = concat over ranks (rank order) of in[n]; dim 0 of out is size × dim 0 of in.
  // In place when `in` is this rank's slot of `out`.
  virtual void all_gather(const Tensor& in, const Tensor& out) = 0;
  // Non-blocking all-gather (ZeRO-3 gathers the next block's parameters while this one computes).
  virtual Request all_gather_async(const Tensor& in, const Tensor& out) = 0;
  // out[n] = reduction over ranks of in[rank*n : (rank+1)*n]; dim 0 of in is size × dim 0 of out.
  // In place when `out` is this rank's slot of `in` (the other slots of `in` are then undefined).
  virtual void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) = 0;
  // Non-blocking reduce-scatter (ZeRO gradient buckets overlap with backward through this).
  virtual Request reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) = 0;
  virtual void broadcast(const Tensor& x, int root) = 0;

  // Point-to-point, non-blocking. Sends and receives between a pair match in posting order per
  // tag (MPI). NCCL has no tags: there they match in posting order per (peer, direction), so a
  // caller posts receives from a peer in the order that peer sends; the pipeline executor does.
  virtual Request send(const Tensor& x, int peer, int tag = 0) = 0;
  virtual Request recv(const Tensor& x, int peer, int tag = 0) = 0;

  // Collective over this group: prepares point-to-point between ring neighbours (rank ± 1 mod
  // size), the peers a pipeline talks to. A backend whose P2P would otherwise queue every transfer
  // behind the previous one (NCCL: one communicator, one order) opens an independent channel per
  // neighbour and direction here, so a receive posted early never blocks a send. MPI needs none.
  virtual void connect_ring_neighbors() {}

  virtual void barrier() = 0;

  // Collective over this group: members with equal color form a new group, ordered by key (then
  // by rank). A negative color joins no group and gets nullptr back.
  virtual std::unique_ptr<Communicator> split(int color, int key, std::string name) = 0;

  std::chrono::milliseconds timeout() const { return timeout_; }

  // Seconds this group's operations were in progress on this rank (see the top of this file) since
  // construction or the last reset: the per-axis communication time of a step.
  double busy_seconds() const { return busy_->load(); }
  void reset_busy_seconds() { busy_->store(0.0); }
  const std::shared_ptr<std::atomic<double>>& busy_counter() const { return busy_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 protected:
  std::shared_ptr<std::atomic<double>> busy_ = std::make_shared<std::atomic<double>>(0.0);
  // Default from TRIDENT_COMM_TIMEOUT_S (seconds), else 300 s: long enough for a slow step on
  // oversubscribed CPU ranks, short enough that a dead peer ends the run instead of hanging it.
  std::chrono::milliseconds timeout_ = default_timeout();

 public:
  static std::chrono::milliseconds default_timeout();
};

}  // namespace trident
