#include "parallel/mpi/mpi_watchdog.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "parallel/mpi/heartbeat.h"
#include "parallel/exit_timer.h"
#include "parallel/mpi/mpi_communicator.h"

namespace trident::mpi {

namespace {

using Clock = std::chrono::steady_clock;

// Set by the SIGTERM handler (lock-free atomics are async-signal-safe).
std::atomic<bool> g_terminated{false};
std::atomic<int> g_in_flight{0};
std::atomic<bool> g_thread_running{false};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class Watchdog {
 public:
  static Watchdog& get() {
    // Never destroyed: calls may be watched during static destruction; atexit stops the thread.
    static Watchdog* dog = [] {
      auto* d = new Watchdog();
      std::atexit([] { get().stop(); });
      return d;
    }();
    return *dog;
  }

  void add(const CallWatch* call) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;  // process exit: nothing left to watch with
    if (!thread_.joinable()) {
      int initialized = 0, finalized = 0;
      MPI_Initialized(&initialized);
      MPI_Finalized(&finalized);
      if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
      thread_ = std::thread([this] { run(); });
      g_thread_running.store(true);
    }
    calls_.push_back(call);
    g_in_flight.fetch_add(1);
  }

  void remove(const CallWatch* call) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find(calls_.begin(), calls_.end(), call);
    if (it == calls_.end()) return;
    calls_.erase(it);
    g_in_flight.fetch_sub(1);
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      const Clock::time_point now = Clock::now();
      if (g_terminated.load()) terminated(now);
      for (const CallWatch* c : calls_)
        if (c->owner() == TimeoutOwner::kWatchdog && now - c->start() > c->timeout())
          fail(timeout_message(c->what(), c->where(), c->timeout()));
      // A peer silent for longer than the timeout (heartbeat.h) cannot answer anyone: end the job now.
      if (const std::string alarm = liveness_alarm(); !alarm.empty()) fail(alarm + "; " + waiting_on(now));
      wake_.wait_for(lock, kPollInterval, [this] { return stopping_; });
    }
  }

  // "rank 1 was waiting in all_reduce of … on communicator 'dp' (rank 1 of 2) for 2.9 s".
  std::string waiting_on(Clock::time_point now) const {
    std::string out = "rank " + std::to_string(world_rank_);
    if (calls_.empty()) return out + " was not in a communication call";
    for (std::size_t i = 0; i < calls_.size(); ++i)
      out += detail::concat(i ? " and " : " was waiting in ", calls_[i]->what(), " on ", calls_[i]->where(), " for ",
                            static_cast<double>(static_cast<long long>(seconds(now - calls_[i]->start()) * 10)) / 10,
                            " s");
    return out;
  }

  // Another rank ended the job: say what this one was waiting for, then die of the SIGTERM.
  [[noreturn]] void terminated(Clock::time_point now) {
    for (const CallWatch* c : calls_)
      std::fprintf(stderr,
                   "trident: rank %d was terminated by the launcher (SIGTERM) after %.1f s in %s on %s: another rank "
                   "ended the job (its own output says why)\n",
                   world_rank_, seconds(now - c->start()), c->what().c_str(), c->where().c_str());
    std::fflush(stderr);
    std::signal(SIGTERM, SIG_DFL);
    ::kill(::getpid(), SIGTERM);
    std::_Exit(128 + SIGTERM);  // not reached: the default action ends the process
  }

  [[noreturn]] void fail(const std::string& message) {
    exit_after(kAbortGrace, kWatchdogExitCode, "MPI watchdog");
    std::fprintf(stderr, "trident: MPI watchdog: %s\n", message.c_str());
    std::fflush(stderr);
    MpiRuntime::abort(kWatchdogExitCode);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    g_thread_running.store(false);
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<const CallWatch*> calls_;
  std::thread thread_;
  bool stopping_ = false, stopped_ = false;
  int world_rank_ = -1;
};

extern "C" void on_sigterm(int) {
  if (g_in_flight.load() == 0 || !g_thread_running.load()) {
    std::signal(SIGTERM, SIG_DFL);
    std::raise(SIGTERM);
    return;
  }
  g_terminated.store(true);  // the watchdog thread reports within kPollInterval
}

}  // namespace

CallWatch::CallWatch(std::string what, std::string where, std::chrono::milliseconds timeout, TimeoutOwner owner)
    : what_(std::move(what)), where_(std::move(where)), start_(Clock::now()), timeout_(timeout), owner_(owner) {
  Watchdog::get().add(this);
}

CallWatch::~CallWatch() { Watchdog::get().remove(this); }

std::string timeout_message(const std::string& what, const std::string& where, std::chrono::milliseconds timeout) {
  return detail::concat("CommTimeout: ", what, " on ", where, " did not complete within ",
                        static_cast<double>(timeout.count()) / 1000.0,
                        " s: a peer may have died, be stuck, or have called a different operation. If steps are just "
                        "slow (large messages, many ranks per core), raise TRIDENT_COMM_TIMEOUT_S (seconds). A "
                        "collective cannot be cancelled, so the job ends here.", with_liveness_note());
}

std::string with_liveness_note() {
  const std::string note = liveness_note();
  return note.empty() ? note : " " + note;
}

void install_termination_note() {
  static const bool installed = [] {
    struct sigaction action = {};
    action.sa_handler = on_sigterm;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(SIGTERM, &action, nullptr) == 0;
  }();
  (void)installed;
}

}  // namespace trident::mpi
