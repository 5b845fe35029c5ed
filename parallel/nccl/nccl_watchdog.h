// The NCCL watchdog: one thread per process that watches every operation of every NCCL
// communicator, so a dead, stuck or diverged peer ends the job with a message instead of hanging
// it. (An NCCL kernel waiting for a peer that never comes spins forever, and the host, which does
// not block on collectives, would only notice at its next synchronisation, forever.)
//
// Every operation records timing events around its NCCL calls on its communicator's stream and is
// registered *before* the first NCCL call, because NCCL may block the host inside that call while it
// connects to the peers. Host steps that wait for peers (communicator creation, split, teardown)
// are registered the same way. Every few milliseconds the thread
//  - polls the operations' end events: a completed one adds its device time (end − start of the
//    timing events) to its communicator's busy_seconds and is dropped;
//  - asks ncclCommGetAsyncError of every communicator that has work outstanding;
//  - on an asynchronous NCCL error, a CUDA error, or an operation outstanding longer than its
//    communicator's timeout(): prints to stderr a message naming the group, the operation, the
//    members and the elapsed time, aborts every NCCL communicator of the process (ncclCommAbort:
//    kernels stuck waiting for peers exit), and ends the job with MPI_Abort.
//
// Why MPI_Abort rather than std::_Exit: the job must end on every rank, promptly. After _Exit the
// other ranks would sit in their own collectives or host MPI calls until their own timeouts (or in
// MPI_Finalize forever, depending on the launcher); MPI_Abort has the launcher kill every rank at
// once. It is called from the watchdog thread (MPI runs MPI_THREAD_MULTIPLE), and a last-resort
// timer calls std::_Exit should neither ncclCommAbort nor MPI_Abort come back. Exit code:
// kWatchdogExitCode.
//
// Process exit: the watchdog object is never destroyed (static destructors of communicators may run
// after it would have been); an atexit handler, registered when the watchdog starts, stops and joins
// the thread. Communicators destroyed after that handler ran skip NCCL teardown (the process is
// ending; the driver reclaims everything).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trident::nccl {

using Clock = std::chrono::steady_clock;

inline constexpr int kWatchdogExitCode = 3;

// Identity of one NCCL communicator, shared by the communicator object, its operations and the
// watchdog, so every message can name the group.
struct CommState {
  ncclComm_t comm = nullptr;  // null until created (a watched creation step has none yet)
  std::string name;           // "tp", "pp:send:1"
  int rank = 0;
  int size = 1;
  int device = 0;
  std::vector<int> members;  // world rank of each member, in group-rank order; empty when unknown
  bool closing = false;      // teardown started (set under the watchdog's lock): hands off `comm`

  std::string where() const;        // "communicator 'tp' (rank 1 of 4)"
  std::string members_str() const;  // "world ranks 4, 5, 6, 7", or "" when unknown
};

// One watched operation: NCCL calls enqueued on a stream (a device operation), or a host step that
// blocks until the peers join (creation, split, teardown).
class WatchedOp {
 public:
  // A device operation on comm->device. `what`: "all_reduce of 1024 f32"; `stream`: the name of the
  // CUDA stream it runs on; `busy`: the counter its device time is added to; `owner`: the
  // communicator object that issued it (to find its operations again).
  WatchedOp(std::shared_ptr<CommState> comm, std::string what, std::string stream, std::chrono::milliseconds timeout,
            std::shared_ptr<std::atomic<double>> busy, const void* owner);
  // A host step: complete once set_host_done() is called.
  WatchedOp(std::shared_ptr<CommState> comm, std::string what, std::chrono::milliseconds timeout);
  ~WatchedOp();
  WatchedOp(const WatchedOp&) = delete;
  WatchedOp& operator=(const WatchedOp&) = delete;

  // Device operations: record_start before the NCCL calls, record_end after them, then
  // set_enqueued (from then on the end event tells completion).
  void record_start(cudaStream_t stream);
  void record_end(cudaStream_t stream);
  void set_enqueued() { enqueued_.store(true, std::memory_order_release); }
  void set_host_done() { host_done_.store(true, std::memory_order_release); }

  enum class State { kPending, kDone, kFailed };
  // Whether the work has completed. The first caller to see it complete adds the device time to the
  // busy counter. kFailed: a CUDA error, returned in *error. Any thread; never throws.
  State poll(cudaError_t* error);

  bool device_op() const { return device_op_; }
  bool enqueued() const { return enqueued_.load(std::memory_order_acquire); }
  cudaEvent_t end_event() const { return end_; }
  const std::shared_ptr<CommState>& comm() const { return comm_; }
  const std::string& what() const { return what_; }
  const void* owner() const { return owner_; }
  bool overdue(Clock::time_point now) const { return now - issued_ > timeout_; }

  // The CommTimeout text for this operation, also printed by the watchdog.
  std::string timeout_message(Clock::time_point now) const;
  // The text for an NCCL (or CUDA) error seen while this operation was outstanding.
  std::string error_message(Clock::time_point now, const std::string& error) const;

 private:
  std::string state_words(Clock::time_point now) const;

  std::shared_ptr<CommState> comm_;
  std::string what_;
  std::string stream_;
  Clock::time_point issued_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<std::atomic<double>> busy_;
  const void* owner_ = nullptr;
  bool device_op_ = false;
  int device_ = 0;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t end_ = nullptr;
  std::atomic<bool> enqueued_{false};
  std::atomic<bool> host_done_{false};
  std::atomic<bool> accounted_{false};
};

class Watchdog {
 public:
  // The process's watchdog; its thread starts on first use.
  static Watchdog& get();
  // True once process exit has stopped the thread: communicators then skip NCCL teardown.
  static bool stopped();

  // Communicators whose asynchronous errors are watched while they have work outstanding.
  void watch_comm(const std::shared_ptr<CommState>& comm);
  void unwatch_comm(const CommState* comm);
  // Marks `comm` as being torn down: from now on the watchdog does not touch its handle.
  void begin_close(CommState& comm);

  // Registers an operation (before its first NCCL call); `drop` removes one whose NCCL call failed.
  void add(std::shared_ptr<WatchedOp> op);
  void drop(const WatchedOp* op);

  // Outstanding operations issued by `owner`, oldest first.
  std::vector<std::shared_ptr<WatchedOp>> outstanding(const void* owner);
  // Polls `owner`'s outstanding operations once: completed ones are accounted and dropped.
  void collect(const void* owner);
  // Why `op` can no longer complete (overdue, or its communicator reported an error), or "".
  std::string problem(const WatchedOp& op);

 private:
  Watchdog();
  void run();
  void stop();
  // Message, ncclCommAbort of every communicator, MPI_Abort. Called with mutex_ held.
  [[noreturn]] void fail(const std::string& message);
  // The asynchronous error of `comm`, or ncclSuccess (also while it is closing or not created).
  static ncclResult_t async_error(const CommState& comm);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<WatchedOp>> ops_;
  std::vector<std::shared_ptr<CommState>> comms_;
  bool stopping_ = false;
  std::thread thread_;
};

// "CUDA error cudaErrorLaunchFailure (unspecified launch failure)"
std::string cuda_error_words(cudaError_t error);

// Blocks the host until `op` completes, polling with back-off. Throws CommTimeout (message of the
// operation) once it is overdue or its communicator failed, trident::Error on a CUDA error.
void wait_on_host(WatchedOp& op);

// Registers a host step with the watchdog for the life of the object; done() marks it complete.
// Destroyed without done() (an exception), the step is dropped.
class WatchedHostStep {
 public:
  WatchedHostStep(std::shared_ptr<CommState> comm, std::string what, std::chrono::milliseconds timeout);
  ~WatchedHostStep();
  void done();
  WatchedHostStep(const WatchedHostStep&) = delete;
  WatchedHostStep& operator=(const WatchedHostStep&) = delete;

 private:
  std::shared_ptr<WatchedOp> op_;
};

}  // namespace trident::nccl
