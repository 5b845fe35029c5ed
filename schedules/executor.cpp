#include "schedules/executor.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/error.h"
#include "core/nvtx.h"
#include "schedules/lowering.h"
#include "schedules/validator.h"

namespace trident {

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

Tensor take(std::map<Handoff, Tensor>& m, const Handoff& k) {
  auto it = m.find(k);
  TRIDENT_CHECK(it != m.end(), "executor: no tensor for ", std::get<0>(k) ? "forward" : "backward",
                " hand-off of micro-batch ", std::get<1>(k), " into chunk ", std::get<2>(k));
  Tensor t = std::move(it->second);
  m.erase(it);
  return t;
}
}  // namespace

PipelineExecutor::PipelineExecutor(const Schedule& schedule, Communicator* pp_group, ExecutorOptions options)
    : group_(pp_group), options_(options) {
  check_valid(schedule);
  schedule_ = schedule.lowered() ? schedule : lower(schedule);
  if (schedule_.pp > 1) {
    TRIDENT_CHECK(group_ != nullptr && group_->size() == schedule_.pp, "schedule '", schedule_.name, "' has pp=",
                  schedule_.pp, " but the pipeline group has ", group_ ? group_->size() : 1, " ranks");
    stage_ = group_->rank();
  }
}

ExecutionStats PipelineExecutor::run(StageRunner& runner) {
  const std::vector<Action>& actions = schedule_.stages[static_cast<std::size_t>(stage_)];
  ExecutionStats stats;
  Step step;
  std::optional<ReceiveQueue> receives;
  if (schedule_.pp > 1) receives.emplace(schedule_, stage_, *group_, runner, options_.prefetch_receives);
  const Clock::time_point t0 = Clock::now();

  for (std::size_t pos = 0; pos < actions.size(); ++pos) {
    const Action& a = actions[pos];
    if (receives) receives->prefetch(pos);
    const Clock::time_point start = Clock::now();
    const NvtxRange range(a.str(), a.is_compute() ? NvtxColor::kCompute : NvtxColor::kCommunication);
    switch (a.type) {
      case ActionType::kRecvF:
      case ActionType::kRecvB:
        step.ready[handoff_of(a)] = receives->wait(a);
        // On a device the wait only orders the compute stream after the transfer; waiting for the
        // device here keeps the time blocked on the peer in recv_wait_s, not in the next action.
        runner.synchronize();
        stats.recv_wait_s += seconds(start, Clock::now());
        break;
      case ActionType::kSendF:
      case ActionType::kSendB:
        send(a, step);
        break;
      case ActionType::kF:
        forward(runner, a, step);
        break;
      case ActionType::kB:
        backward_input(runner, a, step);
        runner.backward_weight(a.mb, a.chunk);
        --step.stash;
        break;
      case ActionType::kI:
        backward_input(runner, a, step);
        break;
      case ActionType::kW:
        runner.backward_weight(a.mb, a.chunk);
        --step.stash;
        break;
      case ActionType::kFB: {
        // One compute stream: the halves run back to back (forward first, so both activations
        // are held at once, as they would be if a device overlapped them).
        const ActionParts halves = parts(a);
        forward(runner, halves.part[0], step);
        stats.peak_stash = std::max(stats.peak_stash, step.stash);
        backward_input(runner, halves.part[1], step);
        runner.backward_weight(halves.part[1].mb, halves.part[1].chunk);
        --step.stash;
        break;
      }
    }
    // A device computes asynchronously: wait for the action's kernels so its recorded time is
    // device time (this costs one launch latency per action, small against an action's work).
    if (a.is_compute()) runner.synchronize();
    const Clock::time_point end = Clock::now();
    if (a.is_compute()) stats.compute_s += seconds(start, end);
    stats.peak_stash = std::max(stats.peak_stash, step.stash);
    stats.timeline.push_back({stage_, a, seconds(t0, start), seconds(t0, end)});
  }

  const Clock::time_point drain = Clock::now();
  for (auto& [t, request] : step.sends) request.wait();
  stats.send_wait_s = seconds(drain, Clock::now());
  const std::size_t left = step.ready.size() + step.to_send.size() + (receives ? receives->in_flight() : 0);
  TRIDENT_CHECK(left == 0, "executor: schedule '", schedule_.name, "' left ", left, " tensors unconsumed on stage ",
                stage_);
  stats.step_s = seconds(t0, Clock::now());
  return stats;
}

void PipelineExecutor::forward(StageRunner& runner, const Action& a, Step& step) const {
  const Tensor input = a.chunk == 0 ? Tensor() : take(step.ready, {true, a.mb, a.chunk});
  Tensor output = runner.forward(a.mb, a.chunk, input);
  ++step.stash;
  if (a.chunk < schedule_.num_chunks() - 1) hand_off({true, a.mb, a.chunk + 1}, std::move(output), step);
}

void PipelineExecutor::backward_input(StageRunner& runner, const Action& a, Step& step) const {
  const bool last = a.chunk == schedule_.num_chunks() - 1;
  const Tensor grad_output = last ? Tensor() : take(step.ready, {false, a.mb, a.chunk});
  Tensor grad_input = runner.backward_input(a.mb, a.chunk, grad_output);
  if (a.chunk > 0) hand_off({false, a.mb, a.chunk - 1}, std::move(grad_input), step);
}

void PipelineExecutor::hand_off(const Handoff& k, Tensor t, Step& step) const {
  // Same-stage neighbour (the V's turn) gets it in memory; otherwise it waits for its SEND.
  if (schedule_.stage_of(std::get<2>(k)) == stage_) step.ready[k] = std::move(t);
  else step.to_send[k] = std::move(t);
}

void PipelineExecutor::send(const Action& a, Step& step) const {
  const Handoff k = handoff_of(a);
  Tensor t = take(step.to_send, k);
  Request request = group_->send(t, schedule_.stage_of(std::get<2>(k)), transfer_tag(schedule_, k));
  step.sends.emplace_back(std::move(t), std::move(request));
}

}  // namespace trident
