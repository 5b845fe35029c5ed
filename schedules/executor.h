// The one executor: runs this rank's action list of any validated schedule.
//
// Point-to-point traffic goes over the pp communicator, non-blocking. Each transfer's tag names
// its (micro-batch, chunk boundary, direction), so under MPI a send can only match its own
// receive; receives from a peer are also posted in that peer's sending order, which is how NCCL
// (no tags) matches them. Receives are posted ahead (up to `prefetch_receives` not yet consumed) so a
// transfer lands while the rank computes; sends are waited for only when the step ends. With
// tp > 1, every TP rank of a stage runs the same list and talks to the same TP rank of the
// neighbouring stage. Activations are released as soon as their backward (or W) has run, by the
// stage model. Every action's wall time, and the time spent waiting for receives, is recorded.
#pragma once

#include <vector>

#include "parallel/communicator.h"
#include "schedules/analyzer.h"
#include "schedules/schedule.h"
#include "schedules/stage_runner.h"

namespace trident {

struct ExecutorOptions {
  int prefetch_receives = 4;
};

struct ExecutionStats {
  std::vector<TimedAction> timeline;  // this rank's actions, seconds from the start of run()
  double step_s = 0.0;                // wall time of run()
  double compute_s = 0.0;             // inside F, B, I, W
  double recv_wait_s = 0.0;           // blocked in receives (the measured bubble, mostly)
  double send_wait_s = 0.0;           // blocked completing sends at the end of the step
  int peak_stash = 0;                 // max (mb, chunk) activations held at once
};

class PipelineExecutor {
 public:
  // Validates `schedule` (check_valid) and lowers it if needed. `pp_group` may be nullptr when
  // pp = 1; otherwise its size must be schedule.pp and its rank is this rank's stage.
  PipelineExecutor(const Schedule& schedule, Communicator* pp_group, ExecutorOptions options = {});

  ExecutionStats run(StageRunner& stage);

  const Schedule& schedule() const { return schedule_; }
  int rank() const { return rank_; }

 private:
  int tag(bool forward, int mb, int link) const;

  Schedule schedule_;  // lowered
  Communicator* group_;
  ExecutorOptions options_;
  int rank_ = 0;
};

}  // namespace trident
