// The receives of one stage's step, posted ahead of use.
//
// A transfer between chunks is identified by its hand-off: (forward?, micro-batch, receiving chunk).
// Receives are posted up to `window` ahead of the RECV actions that consume them, so a transfer lands
// while the stage computes. From each peer they are posted in that peer's *sending* order, not in
// this stage's order of use: backends without tags (NCCL) match point-to-point messages by posting
// order per peer, and under MPI's tags the order is irrelevant, so both backends run the same code.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <tuple>

#include "parallel/communicator.h"
#include "schedules/schedule.h"
#include "schedules/stage_runner.h"

namespace trident {

// (forward?, mb, receiving chunk): forward hand-offs carry chunk−1's output into chunk, backward
// ones carry the gradient of chunk+1's input into chunk.
using Handoff = std::tuple<bool, int, int>;

// The hand-off a RECV action completes, or a SEND action starts (keyed by the receiving chunk).
Handoff handoff_of(const Action& transfer);

// The message tag of a hand-off: unique per (micro-batch, chunk boundary, direction) in a step, so
// under MPI a send can only match its own receive.
int transfer_tag(const Schedule& s, const Handoff& k);
// The stage on the other end of a hand-off from the receiver's side: the chunk it comes from.
int sending_chunk(const Handoff& k);

class ReceiveQueue {
 public:
  // `s` lowered; `group` the pp communicator (its rank is `stage`); buffers take the shape, device
  // and dtype `runner` gives for the receiving chunk.
  ReceiveQueue(const Schedule& s, int stage, Communicator& group, const StageRunner& runner, int window);

  // Posts receives for the RECV actions at positions >= `pos` of this stage's list while fewer than
  // `window` are in flight.
  void prefetch(std::size_t pos);
  // Blocks until the transfer of RECV action `recv` has arrived (posting it first if the window
  // was full) and returns its buffer.
  Tensor wait(const Action& recv);
  std::size_t in_flight() const { return posted_.size(); }

 private:
  struct Posted {
    Tensor buffer;
    Request request;
  };
  void post(const Handoff& k);
  void post_through(const Handoff& k);  // every receive the peer sends before k, then k

  const Schedule& s_;
  int stage_;
  Communicator& group_;
  const StageRunner& runner_;
  int window_;
  std::size_t scan_ = 0;                          // next position to look for RECV actions
  std::map<int, std::deque<Handoff>> incoming_;   // per peer: hand-offs not posted yet, in its send order
  std::map<Handoff, Posted> posted_;
};

}  // namespace trident
