// The validator: every schedule passes it before the executor or the analyzer sees it.
//
// Structural checks (on the compute actions): every (mb, chunk) of the step has exactly one F and
// either one B or one I and one W; no B/I before its F; no W before its I; no action on a chunk the
// stage does not hold; micro-batch and chunk indices in range; an overlapped FB pairs two different
// micro-batches (its halves count as an F and a B). Communication checks (lowered
// schedules): every SEND has its RECV on the peer and vice versa, each exactly once, and each
// sits next to the compute action it serves. Deadlock check: the stages are simulated in lock-step
// under the executor's semantics (sends never block, a receive waits for its send, a compute
// action waits for its inputs) and a state where no stage can move is a deadlock.
// Each failure names the stage, the position in its list and the action.
#pragma once

#include <string>
#include <vector>

#include "schedules/schedule.h"

namespace trident {

struct ValidationIssue {
  int stage = -1;      // -1: the schedule as a whole
  int position = -1;  // index in the stage's list, -1 if none
  std::string message;
};

// All problems found (empty when valid). Lowered and compute-only schedules are both accepted;
// compute-only ones are checked as lowered.
std::vector<ValidationIssue> validate(const Schedule& s);
// Throws trident::Error listing the problems (at most 10) if there are any.
void check_valid(const Schedule& s);

}  // namespace trident
