#include "parallel/nccl/nccl_watchdog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/error.h"
#include "parallel/comm_checks.h"
#include "parallel/communicator.h"
#include "parallel/mpi/mpi_communicator.h"
#include "parallel/mpi/mpi_watchdog.h"
#include "parallel/nccl/nccl_check.h"
#include "parallel/exit_timer.h"
#include "parallel/poll_backoff.h"

namespace trident::nccl {

namespace {

// How often the watchdog looks at outstanding work: fast enough that busy_seconds is current a few
// milliseconds after an operation ends, cheap enough (an event query per operation) to go unnoticed.
constexpr auto kPollInterval = std::chrono::milliseconds(2);

std::atomic<bool> g_stopped{false};

std::string seconds_str(double s) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", s);
  return text;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Timing events, reused: a training step issues thousands of operations, each needing two. Events
// are per device. Never freed (process lifetime), so an operation released during static
// destruction still finds the pool.
class EventPool {
 public:
  static EventPool& get() {
    static auto* pool = new EventPool();
    return *pool;
  }

  cudaEvent_t acquire(int device) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<cudaEvent_t>& free = free_[device];
      if (!free.empty()) {
        cudaEvent_t e = free.back();
        free.pop_back();
        return e;
      }
    }
    CudaDeviceGuard guard(device);
    cudaEvent_t e = nullptr;
    TRIDENT_CUDA_CHECK(cudaEventCreate(&e));  // timing enabled: busy_seconds needs elapsed time
    return e;
  }

  void release(int device, cudaEvent_t e) noexcept {
    if (!e) return;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      free_[device].push_back(e);
    } catch (...) {
      cudaEventDestroy(e);
    }
  }

 private:
  std::mutex mutex_;
  std::map<int, std::vector<cudaEvent_t>> free_;
};

}  // namespace

std::string cuda_error_words(cudaError_t e) {
  return detail::concat("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

// ---- CommState ----------------------------------------------------------------------------------

std::string CommState::where() const { return comm::where(name, rank, size); }

std::string CommState::members_str() const {
  if (members.empty()) return "";
  std::string s = members.size() == 1 ? "world rank " : "world ranks ";
  for (std::size_t i = 0; i < members.size(); ++i) s += (i ? ", " : "") + std::to_string(members[i]);
  return s;
}

// ---- WatchedOp ----------------------------------------------------------------------------------

WatchedOp::WatchedOp(std::shared_ptr<CommState> comm, std::string what, std::string stream,
                     std::chrono::milliseconds timeout, std::shared_ptr<std::atomic<double>> busy, const void* owner)
    : comm_(std::move(comm)),
      what_(std::move(what)),
      stream_(std::move(stream)),
      issued_(Clock::now()),
      timeout_(timeout),
      busy_(std::move(busy)),
      owner_(owner),
      device_op_(true),
      device_(comm_->device) {
  start_ = EventPool::get().acquire(device_);
  try {
    end_ = EventPool::get().acquire(device_);
  } catch (...) {
    EventPool::get().release(device_, start_);
    throw;
  }
}

WatchedOp::WatchedOp(std::shared_ptr<CommState> comm, std::string what, std::chrono::milliseconds timeout)
    : comm_(std::move(comm)),
      what_(std::move(what)),
      issued_(Clock::now()),
      timeout_(timeout),
      device_(comm_->device) {}

WatchedOp::~WatchedOp() {
  EventPool::get().release(device_, start_);
  EventPool::get().release(device_, end_);
}

void WatchedOp::record_start(cudaStream_t stream) { TRIDENT_CUDA_CHECK(cudaEventRecord(start_, stream)); }

void WatchedOp::record_end(cudaStream_t stream) { TRIDENT_CUDA_CHECK(cudaEventRecord(end_, stream)); }

WatchedOp::State WatchedOp::poll(cudaError_t* error) {
  if (accounted_.load(std::memory_order_acquire)) return State::kDone;
  if (!device_op_) return host_done_.load(std::memory_order_acquire) ? State::kDone : State::kPending;
  // Before set_enqueued the end event may not be recorded yet, and an event never recorded reads
  // as complete.
  if (!enqueued()) return State::kPending;
  const cudaError_t e = cudaEventQuery(end_);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();  // "not ready" is an answer, not an error: keep it out of the next launch check
    return State::kPending;
  }
  if (e != cudaSuccess) {
    *error = e;
    return State::kFailed;
  }
  float ms = 0.0f;
  if (cudaEventElapsedTime(&ms, start_, end_) != cudaSuccess) {
    ms = 0.0f;
    cudaGetLastError();
  }
  if (!accounted_.exchange(true, std::memory_order_acq_rel) && busy_) *busy_ += static_cast<double>(ms) / 1000.0;
  return State::kDone;
}

std::string WatchedOp::state_words(Clock::time_point now) const {
  std::string s = "outstanding for " + seconds_str(seconds_between(issued_, now)) + " s";
  if (!device_op_) {
    s += "; every member must make this call";
  } else if (!enqueued()) {
    s += ", the host still inside the NCCL call (NCCL connects to the peers on first use)";
  } else {
    s += detail::concat(" on CUDA stream '", stream_, "' of cuda:", device_);
  }
  const std::string members = comm_->members_str();
  if (!members.empty()) s += "; members: " + members;
  return s;
}

std::string WatchedOp::timeout_message(Clock::time_point now) const {
  return detail::concat("CommTimeout: ", what_, " on ", comm_->where(), " did not complete within ",
                        seconds_str(static_cast<double>(timeout_.count()) / 1000.0), " s (", state_words(now),
                        "): a peer may have died, be stuck, or have called a different operation. If steps are just "
                        "slow (large messages, a long queue of GPU work ahead of it), raise TRIDENT_COMM_TIMEOUT_S "
                        "(seconds).", mpi::with_liveness_note());
}

std::string WatchedOp::error_message(Clock::time_point now, const std::string& error) const {
  return detail::concat("NCCL error: ", what_, " on ", comm_->where(), " failed (", state_words(now), "): ", error,
                        ". A peer may have died or the network failed; NCCL_DEBUG=WARN prints NCCL's own report.");
}

// ---- Watchdog -----------------------------------------------------------------------------------

Watchdog& Watchdog::get() {
  static Watchdog* instance = [] {
    auto* w = new Watchdog();  // never deleted: see the header on process exit
    std::atexit([] { Watchdog::get().stop(); });
    return w;
  }();
  return *instance;
}

bool Watchdog::stopped() { return g_stopped.load(std::memory_order_acquire); }

Watchdog::Watchdog() {
  thread_ = std::thread([this] { run(); });
}

void Watchdog::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  g_stopped.store(true, std::memory_order_release);
}

void Watchdog::watch_comm(const std::shared_ptr<CommState>& comm) {
  std::lock_guard<std::mutex> lock(mutex_);
  comms_.push_back(comm);
}

void Watchdog::unwatch_comm(const CommState* comm) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(comms_, [&](const std::shared_ptr<CommState>& c) { return c.get() == comm; });
}

void Watchdog::begin_close(CommState& comm) {
  std::lock_guard<std::mutex> lock(mutex_);
  comm.closing = true;
}

void Watchdog::add(std::shared_ptr<WatchedOp> op) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void Watchdog::drop(const WatchedOp* op) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(ops_, [&](const std::shared_ptr<WatchedOp>& o) { return o.get() == op; });
}

std::vector<std::shared_ptr<WatchedOp>> Watchdog::outstanding(const void* owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<WatchedOp>> mine;
  for (const auto& op : ops_)
    if (op->owner() == owner) mine.push_back(op);
  return mine;
}

void Watchdog::collect(const void* owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(ops_, [&](const std::shared_ptr<WatchedOp>& op) {
    cudaError_t error = cudaSuccess;
    return op->owner() == owner && op->poll(&error) == WatchedOp::State::kDone;
  });
}

ncclResult_t Watchdog::async_error(const CommState& comm) {
  if (comm.closing || !comm.comm) return ncclSuccess;  // `closing` first: after it, `comm` is the closer's
  ncclResult_t result = ncclSuccess;
  if (ncclCommGetAsyncError(comm.comm, &result) != ncclSuccess) return ncclSuccess;  // cannot tell: no verdict
  return result == ncclInProgress ? ncclSuccess : result;
}

std::string Watchdog::problem(const WatchedOp& op) {
  std::lock_guard<std::mutex> lock(mutex_);
  const Clock::time_point now = Clock::now();
  const ncclResult_t error = async_error(*op.comm());
  if (error != ncclSuccess) return op.error_message(now, "NCCL reports " + result_string(error));
  if (op.overdue(now)) return op.timeout_message(now);
  return "";
}

void Watchdog::run() {
  int current_device = -1;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (ops_.empty()) {
      wake_.wait(lock, [&] { return stopping_ || !ops_.empty(); });
      continue;
    }
    const Clock::time_point now = Clock::now();
    for (std::size_t i = 0; i < ops_.size();) {
      WatchedOp& op = *ops_[i];
      if (op.device_op() && op.comm()->device != current_device) {
        if (cudaSetDevice(op.comm()->device) == cudaSuccess) current_device = op.comm()->device;
      }
      cudaError_t error = cudaSuccess;
      const WatchedOp::State state = op.poll(&error);
      if (state == WatchedOp::State::kDone) {
        ops_.erase(ops_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (state == WatchedOp::State::kFailed) fail(op.error_message(now, cuda_error_words(error)));
      const ncclResult_t nccl_error = async_error(*op.comm());
      if (nccl_error != ncclSuccess) fail(op.error_message(now, "NCCL reports " + result_string(nccl_error)));
      if (op.overdue(now)) fail(op.timeout_message(now));
      ++i;
    }
    wake_.wait_for(lock, kPollInterval, [&] { return stopping_; });
  }
}

void Watchdog::fail(const std::string& message) {
  exit_after(kAbortGrace, kWatchdogExitCode, "NCCL watchdog");  // whatever happens below
  std::fprintf(stderr, "trident: NCCL watchdog: %s\n", message.c_str());
  std::fflush(stderr);
  int aborted = 0;
  for (const auto& c : comms_) {
    if (c->closing || !c->comm) continue;
    ncclCommAbort(c->comm);  // kernels waiting on peers exit; errors change nothing now
    ++aborted;
  }
  std::fprintf(stderr, "trident: NCCL watchdog: aborted %d NCCL communicator(s) of this process; ending the job\n",
               aborted);
  std::fflush(stderr);
  MpiRuntime::abort(kWatchdogExitCode);
}

// ---- host-side waiting --------------------------------------------------------------------------

void wait_on_host(WatchedOp& op) {
  PollBackoff backoff;
  for (;;) {
    cudaError_t error = cudaSuccess;
    const WatchedOp::State state = op.poll(&error);
    if (state == WatchedOp::State::kDone) return;
    if (state == WatchedOp::State::kFailed) TRIDENT_FAIL(op.error_message(Clock::now(), cuda_error_words(error)));
    const std::string problem = Watchdog::get().problem(op);
    if (!problem.empty()) throw CommTimeout(problem);
    backoff.pause();
  }
}

WatchedHostStep::WatchedHostStep(std::shared_ptr<CommState> comm, std::string what, std::chrono::milliseconds timeout)
    : op_(std::make_shared<WatchedOp>(std::move(comm), std::move(what), timeout)) {
  Watchdog::get().add(op_);
}

WatchedHostStep::~WatchedHostStep() {
  if (op_) Watchdog::get().drop(op_.get());
}

void WatchedHostStep::done() {
  if (!op_) return;
  op_->set_host_done();
  Watchdog::get().drop(op_.get());
  op_.reset();
}

}  // namespace trident::nccl
