// MPI backend of Communicator.
//
// Collectives run as MPI's own blocking calls, at MPI's full speed: the blocking ones on the calling
// thread, the non-blocking ones (*_async) on the group's communication thread
// (parallel/mpi/collective_thread.h), in issue order, so they progress while the caller computes.
// No collective can hang the job: each is registered with the MPI watchdog
// (parallel/mpi/mpi_watchdog.h), which ends the job with a message naming the operation and the
// group once it has been outstanding longer than timeout(). A blocking collective first waits for
// the group's queued non-blocking ones, so every member issues them to MPI in program order.
//
// Point-to-point is non-blocking MPI (Isend/Irecv); a request's wait() polls MPI_Test with the
// shared back-off (parallel/poll_backoff.h) and throws CommTimeout past timeout(): a receive can
// be cancelled, so the caller may recover.
//
// Host tensors are moved directly. CUDA tensors are staged through pinned host buffers
// (parallel/mpi/host_staging.h): device→host on the tensor's compute stream and a host sync when
// the operation is issued (on the caller's thread), host→device on that stream when the caller
// sees it complete (the blocking call's return, or wait() / test()). That is the slow fallback: it
// lets several ranks share one GPU, which NCCL refuses. Every operation is an NVTX range
// ("dp all_reduce 6.0 MiB").
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/mpi/collective_thread.h"

namespace trident {

// MPI_Init_thread (MPI_THREAD_MULTIPLE: communication threads call MPI beside the main thread) /
// MPI_Finalize for the life of the process (one per main()). Installs the watchdog's SIGTERM note.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  // Ends every rank with `code` (after printing on this one): used when an error on one rank must
  // not leave the others waiting.
  [[noreturn]] static void abort(int code);
};

class MpiCommunicator final : public Communicator {
 public:
  // The world: MPI_COMM_WORLD duplicated, so trident's traffic never mixes with the user's.
  static std::unique_ptr<MpiCommunicator> world();
  // Takes ownership of `comm` (freed in the destructor).
  MpiCommunicator(MPI_Comm comm, std::string name);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const std::string& name() const override { return name_; }
  std::string backend() const override { return "mpi"; }

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
  std::unique_ptr<Communicator> split(int color, int key, std::string name) override;

  MPI_Comm handle() const { return comm_; }

 private:
  // The group's communication thread, started with the first non-blocking collective.
  mpi::CollectiveThread& thread();
  // Waits for the queued non-blocking collectives (before a blocking one, a split, the end).
  void drain();

  MPI_Comm comm_;
  std::string name_;
  int rank_ = 0;
  int size_ = 1;
  std::unique_ptr<mpi::CollectiveThread> thread_;
};

}  // namespace trident
