// The one executor: runs this stage's action list of any validated schedule.
//
// Point-to-point traffic goes over the pp communicator, non-blocking: receives are posted ahead by a
// ReceiveQueue (receive_queue.h) so a transfer lands while the stage computes, and sends are waited
// for only when the step ends. With tp > 1, every TP rank of a stage runs the same list and talks
// to the same TP rank of the neighbouring stage. Activations are released as soon as their backward
// (or W) has run, by the stage model. Every action's wall time, and the time spent waiting for
// receives, is recorded. An overlapped FB runs its forward half and then its backward half: a stage
// has one compute stream (one thread on CPU ranks), so the pair is one action in the timeline whose
// time is the sum of its halves, not a concurrency.
#pragma once

#include <map>
#include <vector>

#include "parallel/communicator.h"
#include "schedules/analyzer.h"
#include "schedules/receive_queue.h"
#include "schedules/schedule.h"
#include "schedules/stage_runner.h"

namespace trident {

struct ExecutorOptions {
  int prefetch_receives = 4;
};

struct ExecutionStats {
  std::vector<TimedAction> timeline;  // this stage's actions, seconds from the start of run()
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

  ExecutionStats run(StageRunner& runner);

  const Schedule& schedule() const { return schedule_; }
  int stage() const { return stage_; }

 private:
  // One step's tensors in transit on this stage.
  struct Step {
    std::map<Handoff, Tensor> ready;    // inputs / output-gradients waiting for their compute action
    std::map<Handoff, Tensor> to_send;  // outputs / input-gradients waiting for their SEND
    std::vector<std::pair<Tensor, Request>> sends;  // kept alive until the step ends
    int stash = 0;                      // (mb, chunk) activations held
  };
  void forward(StageRunner& runner, const Action& a, Step& step) const;
  void backward_input(StageRunner& runner, const Action& a, Step& step) const;
  void send(const Action& a, Step& step) const;
  // Where a chunk's output (or input gradient) goes: in memory to a neighbour on this stage, or to
  // the SEND that carries it to another stage.
  void hand_off(const Handoff& k, Tensor t, Step& step) const;

  Schedule schedule_;  // lowered
  Communicator* group_;
  ExecutorOptions options_;
  int stage_ = 0;
};

}  // namespace trident
