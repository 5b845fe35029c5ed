// The MPI backend's watchdog. An MPI collective cannot be cancelled, and polling a non-blocking one
// from the caller runs at a fraction of MPI's speed (Open MPI progresses it only inside MPI calls,
// and a poll that sleeps between tests starves it). So collectives run as MPI's own blocking calls,
// and this thread watches them instead:
//
//   CallWatch watch(desc, where, timeout);   // registered for the life of the call
//   MPI_Allreduce(...);                      // native speed
//
// Every kPollInterval the thread looks at the calls in flight. One outstanding longer than its
// communicator's timeout() ends the job: the message names the operation, the group, this rank and
// the timeout ("CommTimeout: all_gather of 4096 f32 on communicator 'dp' (rank 0 of 2) did not
// complete within 300 s: …"), then MPI_Abort has the launcher end every rank. Exit code 1.
//
// A rank that dies makes the launcher terminate the others (SIGTERM) before any timeout. So that
// the job still says what the survivors were waiting for, install_termination_note() (MpiRuntime
// calls it) catches SIGTERM while a watched call is in flight: the watchdog thread prints
// "rank 0 was terminated by the launcher after 1.2 s in all_gather of … on communicator 'dp' …"
// and the process then dies of SIGTERM as it would have. With no call in flight SIGTERM acts at once.
//
// A point-to-point wait is watched too, but only to be named: its timeout stays the caller's (it
// throws CommTimeout, which a caller can recover from, since a receive can be cancelled), so that a
// job ended by a silent peer still says which transfer each rank was blocked in.
//
// The thread starts with the first watched call and is stopped by an atexit handler.
#pragma once

#include <chrono>
#include <string>

namespace trident::mpi {

inline constexpr int kWatchdogExitCode = 1;
inline constexpr std::chrono::milliseconds kPollInterval{50};

// Who ends a call that outlasts its timeout: the watchdog (a collective, which cannot be
// cancelled: the job ends) or the caller itself (a polled point-to-point wait throws CommTimeout).
enum class TimeoutOwner { kWatchdog, kCaller };

// Registers one blocking MPI call with the watchdog for the life of the object.
class CallWatch {
 public:
  // what: "all_reduce of 1024 f32"; where: "communicator 'dp' (rank 0 of 2)".
  CallWatch(std::string what, std::string where, std::chrono::milliseconds timeout,
            TimeoutOwner owner = TimeoutOwner::kWatchdog);
  ~CallWatch();
  CallWatch(const CallWatch&) = delete;
  CallWatch& operator=(const CallWatch&) = delete;

  const std::string& what() const { return what_; }
  const std::string& where() const { return where_; }
  std::chrono::steady_clock::time_point start() const { return start_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  TimeoutOwner owner() const { return owner_; }

 private:
  std::string what_, where_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::milliseconds timeout_;
  TimeoutOwner owner_;
};

// The CommTimeout text of a call that exceeded its timeout (what the watchdog prints), ending with
// the heartbeat's note on silent ranks (heartbeat.h) when there is one.
std::string timeout_message(const std::string& what, const std::string& where, std::chrono::milliseconds timeout);
// " No heartbeat from rank 3 for 2.4 s (…)." when the heartbeat knows of silent ranks, else "".
std::string with_liveness_note();

// SIGTERM while a watched call is in flight: say which call, then die of SIGTERM. Idempotent.
void install_termination_note();

}  // namespace trident::mpi
