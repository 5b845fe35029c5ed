// The simulated step's pipeline part: a discrete-event simulation of the lowered per-stage action
// lists (the generators and lowering the executor uses), one representative rank per stage.
//
// Semantics are the executor's (schedules/dependencies.h): a stage runs its list in order; a
// compute action runs on the stage's compute stream for its modelled time (ops plus the blocking TP
// collectives inside it); a SEND starts a transfer and takes no compute time (non-blocking); a RECV
// waits until the transfer from the peer has arrived (send time + p2p time). Every DP replica and
// every TP rank of a stage runs the same list with the same costs, so one rank per stage stands for
// all of them: the simulation costs O(pp · actions per stage), whatever dp and tp are.
//
// Dedicated devices (GPUs, CPU ranks with a core each) run each action at full speed. CPU ranks that
// share cores (CpuSharing) run by processor sharing: while k ranks compute, each proceeds at
// min(1, cores / (k · threads)) of its solo speed — ranks blocked in a receive back off and leave
// the cores to the others — so the same lists give the oversubscribed timeline.
#pragma once

#include <array>
#include <vector>

#include "schedules/analyzer.h"
#include "schedules/schedule.h"

namespace trident {

struct CpuSharing {
  bool enabled = false;
  double cores = 1.0;
  int ranks_per_stage = 1;  // tp · dp: the ranks that run each stage's list
  int threads_per_rank = 1;
};

struct TimelineCosts {
  // Per global chunk: seconds of F, B, I, W (indexed by ActionType; a B is I + W when not set).
  std::vector<std::array<double, 4>> action_s;
  // Per global chunk: extra seconds of the action that makes the chunk's gradients final (its last
  // W or B of the step): GradSync's TP all-reduce of sequence-parallel partial sums.
  std::vector<double> final_extra_s;
  // Per global chunk c < last: transfer time of the activation c -> c+1 (and of its gradient back).
  std::vector<double> p2p_s;
  // Per global chunk c < last: how long a receive of that transfer holds its stage once the stage
  // reaches it (the analyzer's ActionCosts::recv): 0 when receives are posted ahead and complete on
  // their own (NCCL streams), the transfer time when the transfer only progresses inside the
  // receiver's wait (MPI without asynchronous progress; Megatron-LM's blocking p2p). A receive ends
  // at max(reached + hold, sent + p2p).
  std::vector<double> recv_hold_s;
  // ZeRO-3, per global chunk: seconds to all-gather the chunk's parameters, which its forward and
  // backward-input need. A stage gathers on its DP stream one action ahead (the gather for an action
  // starts when the action before it starts), so only what the previous action does not cover waits.
  std::vector<double> gather_s;
  CpuSharing sharing;
};

struct StageTimeline {
  std::vector<TimedAction> actions;  // in execution order; receives span their wait
  double end = 0.0;                  // end of the last action
  double compute_s = 0.0;            // in F, B, I, W (and FB)
  double recv_wait_s = 0.0;          // blocked in receives
  double transfer_wait_s = 0.0;      // the part of receive waits spent on the transfer itself
  double gather_wait_s = 0.0;        // ZeRO-3: compute waiting for parameter gathers
  int peak_stash = 0;
  // Per global chunk held by the stage: start and end of the action that made its gradients final
  // (-1 when the stage does not hold it).
  std::vector<double> final_start, final_end;
  std::vector<Action> final_action;
};

struct PipelineTimeline {
  std::vector<StageTimeline> stages;
  double makespan = 0.0;
};

// Simulates `schedule` (lowered here if it is not); throws naming the stuck stages if it deadlocks.
PipelineTimeline simulate_pipeline(const Schedule& schedule, const TimelineCosts& costs);

// TimelineCosts for the analyzer's ActionCosts (unit-cost checks: the two must agree).
TimelineCosts costs_from(const ActionCosts& costs, const Schedule& schedule);

}  // namespace trident
