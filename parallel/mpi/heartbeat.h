// Liveness of a job's ranks, so that a stopped rank is named when the job ends.
//
// A rank stopped with kill -STOP (or held by a debugger, or on a node that hangs) is not dead: its
// connections stay open, the launcher sees nothing, and its peers simply wait in their next
// collective or receive. The MPI watchdog (mpi_watchdog.h) ends that wait after the communication
// timeout, but on its own it can only say what this rank was waiting for, not whom. The heartbeat
// says whom.
//
// Every rank runs one heartbeat thread on its own duplicate of the world communicator, beating in a
// star through rank 0 (O(N) small messages per interval for the whole job):
//
//   rank r != 0 -> rank 0   a beat every interval
//   rank 0 -> every rank    a beat listing the ranks rank 0 has not heard from for longer than the
//                           suspicion threshold, and for how long (the first kMaxReported of them)
//
// so within about two intervals every rank knows which ranks have gone silent (rank 0 itself
// going silent is seen directly). interval = clamp(timeout / 10, 50 ms, 1 s); a rank is suspected
// after max(4 intervals, 1 s) of silence. Beats run on their own thread, so a rank that is busy
// computing, or blocked in a long collective, still beats; only a process that does not run at all
// (stopped, frozen, or its node gone) falls silent.
//
// The watchdog is the one that acts on it:
//   - a call that exceeds its timeout ends the job with a message that also names the silent ranks
//     (liveness_note);
//   - a rank silent for longer than the communication timeout ends the job even when this rank is
//     not yet waiting for it (liveness_alarm): it will be, and nobody can answer it.
// A heartbeat whose own thread went unscheduled for longer than the suspicion threshold (this rank
// was the stopped one and has been continued) forgets what it knew instead of blaming its peers.
// A rank that ends normally says goodbye first (the destructor), so peers that finish later never
// suspect it.
#pragma once

#include <mpi.h>

#include <chrono>
#include <memory>
#include <string>

namespace trident::mpi {

inline constexpr int kMaxReported = 16;

class Heartbeat {
 public:
  // Collective over `comm` (duplicated; the original stays the caller's). `timeout`: the
  // communication timeout the beats are measured against (TRIDENT_COMM_TIMEOUT_S).
  Heartbeat(MPI_Comm comm, std::chrono::milliseconds timeout);
  // Says goodbye to the peers, stops the thread, frees the duplicate. Not collective.
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  std::chrono::milliseconds interval() const;

  struct State;  // shared with the watchdog's queries below

 private:
  std::shared_ptr<State> state_;
};

// For the watchdog's messages, about the heartbeat running in this process (empty when none runs
// or every peer is heard from): "no heartbeat from rank 3 for 2.4 s (stopped, frozen, or its node
// is gone)".
std::string liveness_note();
// Non-empty once a peer has been silent for longer than the communication timeout: the first half
// of the message that ends the job ("rank 3 has sent no heartbeat for 10.1 s, longer than the
// communication timeout of 10 s: it is stopped ...").
std::string liveness_alarm();

}  // namespace trident::mpi
