#include "schedules/executor.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <tuple>

#include "core/error.h"
#include "core/nvtx.h"
#include "schedules/lowering.h"
#include "schedules/validator.h"

namespace trident {

PipelineExecutor::PipelineExecutor(const Schedule& schedule, Communicator* pp_group, ExecutorOptions options)
    : group_(pp_group), options_(options) {
  options_.prefetch_receives = std::max(options_.prefetch_receives, 1);
  check_valid(schedule);
  schedule_ = schedule.lowered() ? schedule : lower(schedule);
  if (schedule_.pp > 1) {
    TRIDENT_CHECK(group_ != nullptr && group_->size() == schedule_.pp, "schedule '", schedule_.name, "' has pp=",
                  schedule_.pp, " but the pipeline group has ", group_ ? group_->size() : 1, " ranks");
    rank_ = group_->rank();
  }
}

int PipelineExecutor::tag(bool forward, int mb, int link) const {
  return (mb * schedule_.num_chunks() + link) * 2 + (forward ? 0 : 1);
}

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Key of a tensor travelling between chunks: (forward?, mb, receiving chunk).
using Handoff = std::tuple<bool, int, int>;

struct PostedRecv {
  Tensor buffer;
  Request request;
};

// The hand-offs each peer sends to `rank`, in that peer's sending order (see post_through below).
std::map<int, std::deque<Handoff>> incoming_in_send_order(const Schedule& s, int rank) {
  std::map<int, std::deque<Handoff>> incoming;
  for (int peer = 0; peer < s.pp; ++peer) {
    if (peer == rank) continue;
    for (const Action& a : s.ranks[static_cast<std::size_t>(peer)]) {
      if (a.type == ActionType::kSendF && s.rank_of(a.chunk + 1) == rank)
        incoming[peer].push_back({true, a.mb, a.chunk + 1});
      else if (a.type == ActionType::kSendB && s.rank_of(a.chunk - 1) == rank)
        incoming[peer].push_back({false, a.mb, a.chunk - 1});
    }
  }
  return incoming;
}
}  // namespace

ExecutionStats PipelineExecutor::run(StageRunner& stage) {
  const std::vector<Action>& actions = schedule_.ranks[static_cast<std::size_t>(rank_)];
  const int last = schedule_.num_chunks() - 1;
  ExecutionStats stats;
  const Clock::time_point t0 = Clock::now();

  std::map<Handoff, Tensor> ready;          // inputs / output-gradients waiting for their compute action
  std::map<Handoff, Tensor> to_send;        // outputs / input-gradients waiting for their SEND
  std::map<Handoff, PostedRecv> posted;     // receives in flight, by the handoff they deliver
  std::vector<std::pair<Tensor, Request>> sends;  // kept alive until the step ends
  std::size_t scan = 0;                     // next position to look for receives to post
  int stash = 0;
  // Receives from a peer are posted in the order the peer sends (not in this rank's order of use):
  // backends without tags (NCCL) match point-to-point by posting order per peer and direction.
  // Under MPI's tags the order is irrelevant, so both backends run the same code.
  std::map<int, std::deque<Handoff>> incoming = incoming_in_send_order(schedule_, rank_);

  auto post_one = [&](const Handoff& k) {
    const auto [fwd, mb, chunk] = k;
    const int peer_chunk = fwd ? chunk - 1 : chunk + 1;
    Tensor buf = Tensor::empty(stage.boundary_shape(fwd ? chunk : chunk + 1), stage.boundary_dtype(),
                               stage.boundary_device());
    Request req = group_->recv(buf, schedule_.rank_of(peer_chunk), tag(fwd, mb, fwd ? chunk - 1 : chunk));
    posted.emplace(k, PostedRecv{std::move(buf), std::move(req)});
  };
  // Posts every receive the peer sends before `k`, then `k`.
  auto post_through = [&](const Handoff& k) {
    const int peer = schedule_.rank_of(std::get<0>(k) ? std::get<2>(k) - 1 : std::get<2>(k) + 1);
    std::deque<Handoff>& queue = incoming[peer];
    while (!posted.count(k)) {
      TRIDENT_CHECK(!queue.empty(), "executor: rank ", rank_, " expects a transfer from rank ", peer,
                    " that rank ", peer, " never sends (schedule '", schedule_.name, "')");
      post_one(queue.front());
      queue.pop_front();
    }
  };
  auto post_receives = [&](std::size_t from) {
    scan = std::max(scan, from);
    while (scan < actions.size() && static_cast<int>(posted.size()) < options_.prefetch_receives) {
      const Action& a = actions[scan++];
      if (!a.is_recv()) continue;
      post_through(Handoff{a.type == ActionType::kRecvF, a.mb, a.chunk});
    }
  };
  auto take = [](std::map<Handoff, Tensor>& m, const Handoff& k) {
    auto it = m.find(k);
    TRIDENT_CHECK(it != m.end(), "executor: no tensor for ", std::get<0>(k) ? "forward" : "backward",
                  " hand-off of micro-batch ", std::get<1>(k), " chunk ", std::get<2>(k));
    Tensor t = std::move(it->second);
    m.erase(it);
    return t;
  };

  for (std::size_t pos = 0; pos < actions.size(); ++pos) {
    const Action& a = actions[pos];
    if (group_ && schedule_.pp > 1) post_receives(pos);
    const Clock::time_point start = Clock::now();
    const NvtxRange range(a.str(), a.is_compute() ? NvtxColor::kCompute : NvtxColor::kCommunication);
    switch (a.type) {
      case ActionType::kRecvF:
      case ActionType::kRecvB: {
        const Handoff k{a.type == ActionType::kRecvF, a.mb, a.chunk};
        if (!posted.count(k)) post_through(k);  // prefetch window was full: post it now
        auto it = posted.find(k);
        TRIDENT_CHECK(it != posted.end(), "executor: receive ", a.str(), " was not posted");
        it->second.request.wait();
        // On a device the wait only orders the compute stream after the transfer; waiting for the
        // device here keeps the time blocked on the peer in recv_wait_s, not in the next action.
        stage.synchronize();
        ready[k] = std::move(it->second.buffer);
        posted.erase(it);
        stats.recv_wait_s += seconds(start, Clock::now());
        break;
      }
      case ActionType::kSendF:
      case ActionType::kSendB: {
        const bool fwd = a.type == ActionType::kSendF;
        Tensor t = take(to_send, {fwd, a.mb, a.chunk});
        const int peer_chunk = fwd ? a.chunk + 1 : a.chunk - 1;
        Request req = group_->send(t, schedule_.rank_of(peer_chunk), tag(fwd, a.mb, fwd ? a.chunk : a.chunk - 1));
        sends.emplace_back(std::move(t), std::move(req));
        break;
      }
      case ActionType::kF: {
        Tensor input = a.chunk == 0 ? Tensor() : take(ready, {true, a.mb, a.chunk});
        Tensor out = stage.forward(a.mb, a.chunk, input);
        ++stash;
        if (a.chunk < last) {
          // Same-rank neighbour (the V's turn) gets it in memory; otherwise it waits for SEND_F.
          if (schedule_.rank_of(a.chunk + 1) == rank_) ready[{true, a.mb, a.chunk + 1}] = out;
          else to_send[{true, a.mb, a.chunk}] = out;
        }
        break;
      }
      case ActionType::kB:
      case ActionType::kI: {
        Tensor dy = a.chunk == last ? Tensor() : take(ready, {false, a.mb, a.chunk});
        Tensor dx = stage.backward_input(a.mb, a.chunk, dy);
        if (a.type == ActionType::kB) {
          stage.backward_weight(a.mb, a.chunk);
          --stash;
        }
        if (a.chunk > 0) {
          if (schedule_.rank_of(a.chunk - 1) == rank_) ready[{false, a.mb, a.chunk - 1}] = dx;
          else to_send[{false, a.mb, a.chunk}] = dx;
        }
        break;
      }
      case ActionType::kW:
        stage.backward_weight(a.mb, a.chunk);
        --stash;
        break;
    }
    // A device computes asynchronously: wait for the action's kernels so its recorded time is
    // device time (this costs one launch latency per action, small against an action's work).
    if (a.is_compute()) stage.synchronize();
    const Clock::time_point end = Clock::now();
    if (a.is_compute()) stats.compute_s += seconds(start, end);
    stats.peak_stash = std::max(stats.peak_stash, stash);
    stats.timeline.push_back({rank_, a, seconds(t0, start), seconds(t0, end)});
  }
  const Clock::time_point drain = Clock::now();
  for (auto& [t, req] : sends) req.wait();
  stats.send_wait_s = seconds(drain, Clock::now());
  TRIDENT_CHECK(ready.empty() && to_send.empty() && posted.empty(), "executor: schedule '", schedule_.name,
                "' left ", ready.size() + to_send.size() + posted.size(), " tensors unconsumed on rank ", rank_);
  stats.step_s = seconds(t0, Clock::now());
  return stats;
}

}  // namespace trident
