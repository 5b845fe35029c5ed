// The Request of an NCCL operation (see parallel/nccl/nccl_communicator.h for the semantics):
// test() polls the completion event, wait() orders the compute stream after it.
#pragma once

#include <cuda_runtime_api.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "parallel/comm_checks.h"
#include "parallel/communicator.h"
#include "parallel/nccl/nccl_watchdog.h"

namespace trident::nccl {

// A send to or receive from this rank itself: once both sides are posted, a device-to-device copy
// on the group's stream.
struct SelfTransfer {
  bool send = false;
  Tensor tensor;
  comm::OpDesc desc;
  bool matched = false;
  std::shared_ptr<WatchedOp> op;  // the copy; null when matched and nothing had to move
};

// Transfers to self still waiting for their counterpart, each side in posting order.
struct SelfMailbox {
  std::deque<std::shared_ptr<SelfTransfer>> sends;
  std::deque<std::shared_ptr<SelfTransfer>> recvs;
};

class NcclRequest final : public Request::Impl {
 public:
  // An enqueued operation (null: nothing to wait for, e.g. zero elements); `keep` stays alive with
  // the request.
  NcclRequest(std::shared_ptr<WatchedOp> op, std::vector<Tensor> keep, int device, cudaStream_t compute);
  // A transfer to self, complete once matched and copied. `where` names the communicator.
  NcclRequest(std::shared_ptr<SelfTransfer> self, std::shared_ptr<SelfMailbox> mailbox, std::string where, int device,
              cudaStream_t compute);
  ~NcclRequest() override;

  bool test() override;
  void wait() override;

 private:
  // The operation to wait for; throws CommTimeout for a transfer to self that is still unmatched.
  WatchedOp* current_op(const char* call) const;

  std::shared_ptr<WatchedOp> op_;
  std::vector<Tensor> keep_;
  std::shared_ptr<SelfTransfer> self_;
  std::shared_ptr<SelfMailbox> mailbox_;
  std::string where_;
  int device_ = 0;
  cudaStream_t compute_ = nullptr;
  bool done_ = false;    // completion observed
  bool waited_ = false;  // the compute stream is ordered after it
};

}  // namespace trident::nccl
