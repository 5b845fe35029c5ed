#include "parallel/nccl/nccl_request.h"

#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/error.h"

namespace trident::nccl {

NcclRequest::NcclRequest(std::shared_ptr<WatchedOp> op, std::vector<Tensor> keep, int device, cudaStream_t compute)
    : op_(std::move(op)), keep_(std::move(keep)), device_(device), compute_(compute) {}

NcclRequest::NcclRequest(std::shared_ptr<SelfTransfer> self, std::shared_ptr<SelfMailbox> mailbox, std::string where,
                         int device, cudaStream_t compute)
    : self_(std::move(self)),
      mailbox_(std::move(mailbox)),
      where_(std::move(where)),
      device_(device),
      compute_(compute) {}

NcclRequest::~NcclRequest() {
  if (self_ && !self_->matched) {
    // Never matched: withdraw it, so a later transfer to self does not pair with a dead request.
    if (mailbox_) std::erase(self_->send ? mailbox_->sends : mailbox_->recvs, self_);
    return;
  }
  if (waited_ || done_) return;
  const WatchedOp* op = self_ ? self_->op.get() : op_.get();
  if (!op) return;
  // Dropped without wait() (an exception is unwinding): order the compute stream after the
  // operation anyway, so the buffers it uses are never recycled under the transfer. No throwing.
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return;
  if (previous != device_) cudaSetDevice(device_);
  cudaStreamWaitEvent(compute_, op->end_event(), 0);
  if (previous != device_) cudaSetDevice(previous);
}

WatchedOp* NcclRequest::current_op(const char* call) const {
  if (self_ && !self_->matched) {
    const bool send = self_->send;
    throw CommTimeout(detail::concat(
        "CommTimeout: ", self_->desc.str(), " on ", where_, ": ", call, "() before the matching ",
        send ? "recv" : "send",
        " from this rank to itself was posted. A transfer to oneself completes once both sides are posted, and "
        "nothing else could post the other side now: post the ",
        send ? "recv" : "send", " first."));
  }
  return self_ ? self_->op.get() : op_.get();
}

bool NcclRequest::test() {
  if (done_) return true;
  if (self_ && !self_->matched) return false;
  WatchedOp* op = current_op("test");
  if (!op) {
    done_ = true;
    return true;
  }
  CudaDeviceGuard guard(device_);
  cudaError_t error = cudaSuccess;
  switch (op->poll(&error)) {
    case WatchedOp::State::kDone: done_ = true; return true;
    case WatchedOp::State::kFailed: TRIDENT_FAIL(op->error_message(Clock::now(), cuda_error_words(error)));
    case WatchedOp::State::kPending: break;
  }
  const std::string problem = Watchdog::get().problem(*op);
  if (!problem.empty()) throw CommTimeout(problem);
  return false;
}

void NcclRequest::wait() {
  if (waited_) return;
  WatchedOp* op = current_op("wait");
  // test() throws CommTimeout when the operation is overdue or its communicator failed.
  if (op && !test()) {
    CudaDeviceGuard guard(device_);
    TRIDENT_CUDA_CHECK(cudaStreamWaitEvent(compute_, op->end_event(), 0));
  }
  waited_ = true;
}

}  // namespace trident::nccl
