// MPI backend of Communicator. Blocking collectives are issued non-blocking and waited on with the
// communicator's timeout, so a dead or diverged peer ends in CommTimeout, not a hang. Waiting polls
// MPI_Test, backing off to short sleeps so oversubscribed ranks leave the CPU to the ranks doing
// work.
//
// Host tensors are moved directly. CUDA tensors are staged through pinned host buffers
// (parallel/mpi/host_staging.h): device→host on the tensor's compute stream and a host sync before
// the operation is posted, host→device on that stream when it completes (in wait() / test() or the
// blocking call). That is the slow fallback: it lets several ranks share one GPU, which NCCL
// refuses. Every operation is an NVTX range ("dp all_reduce 6.0 MiB").
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "parallel/communicator.h"

namespace trident {

// MPI_Init_thread / MPI_Finalize for the life of the process (one per main()).
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
  void reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op) override;
  Request reduce_scatter_async(const Tensor& in, const Tensor& out, ReduceOp op) override;
  void broadcast(const Tensor& x, int root) override;
  Request send(const Tensor& x, int peer, int tag) override;
  Request recv(const Tensor& x, int peer, int tag) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key, std::string name) override;

  MPI_Comm handle() const { return comm_; }

 private:
  // The non-blocking operations without their NVTX range (the public calls open one).
  Request issue_all_reduce(const Tensor& x, ReduceOp op);
  Request issue_reduce_scatter(const Tensor& in, const Tensor& out, ReduceOp op);

  MPI_Comm comm_;
  std::string name_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace trident
