#include "schedules/receive_queue.h"

#include <algorithm>

#include "core/error.h"

namespace trident {

Handoff handoff_of(const Action& a) {
  switch (a.type) {
    case ActionType::kRecvF: return {true, a.mb, a.chunk};
    case ActionType::kRecvB: return {false, a.mb, a.chunk};
    case ActionType::kSendF: return {true, a.mb, a.chunk + 1};
    case ActionType::kSendB: return {false, a.mb, a.chunk - 1};
    default: TRIDENT_FAIL("handoff_of: ", a.str(), " is not a transfer");
  }
}

int sending_chunk(const Handoff& k) { return std::get<0>(k) ? std::get<2>(k) - 1 : std::get<2>(k) + 1; }

int transfer_tag(const Schedule& s, const Handoff& k) {
  const auto [forward, mb, chunk] = k;
  const int link = forward ? chunk - 1 : chunk;  // the lower chunk of the boundary crossed
  return (mb * s.num_chunks() + link) * 2 + (forward ? 0 : 1);
}

ReceiveQueue::ReceiveQueue(const Schedule& s, int stage, Communicator& group, const StageRunner& runner, int window)
    : s_(s), stage_(stage), group_(group), runner_(runner), window_(std::max(window, 1)) {
  // What each peer sends to this stage, in the peer's order.
  for (int peer = 0; peer < s.pp; ++peer) {
    if (peer == stage) continue;
    for (const Action& a : s.stages[static_cast<std::size_t>(peer)]) {
      if (!a.is_send()) continue;
      const Handoff k = handoff_of(a);
      if (s.stage_of(std::get<2>(k)) == stage) incoming_[peer].push_back(k);
    }
  }
}

void ReceiveQueue::post(const Handoff& k) {
  const auto [forward, mb, chunk] = k;
  // A forward buffer is chunk's input; a backward one is the gradient of chunk+1's input.
  Tensor buffer = Tensor::empty(runner_.boundary_shape(forward ? chunk : chunk + 1), runner_.boundary_dtype(),
                                runner_.boundary_device());
  Request request = group_.recv(buffer, s_.stage_of(sending_chunk(k)), transfer_tag(s_, k));
  posted_.emplace(k, Posted{std::move(buffer), std::move(request)});
}

void ReceiveQueue::post_through(const Handoff& k) {
  const int peer = s_.stage_of(sending_chunk(k));
  std::deque<Handoff>& queue = incoming_[peer];
  while (!posted_.count(k)) {
    TRIDENT_CHECK(!queue.empty(), "executor: stage ", stage_, " expects a transfer from stage ", peer, " that stage ",
                  peer, " never sends (schedule '", s_.name, "')");
    post(queue.front());
    queue.pop_front();
  }
}

void ReceiveQueue::prefetch(std::size_t pos) {
  const auto& actions = s_.stages[static_cast<std::size_t>(stage_)];
  scan_ = std::max(scan_, pos);
  while (scan_ < actions.size() && static_cast<int>(posted_.size()) < window_) {
    const Action& a = actions[scan_++];
    if (a.is_recv()) post_through(handoff_of(a));
  }
}

Tensor ReceiveQueue::wait(const Action& recv) {
  const Handoff k = handoff_of(recv);
  if (!posted_.count(k)) post_through(k);  // the window was full when its turn came
  auto it = posted_.find(k);
  it->second.request.wait();
  Tensor buffer = std::move(it->second.buffer);
  posted_.erase(it);
  return buffer;
}

}  // namespace trident
