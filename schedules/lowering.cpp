#include "schedules/lowering.h"

namespace trident {

Schedule lower(const Schedule& in) {
  Schedule out = strip_communication(in);
  const int last = in.num_chunks() - 1;
  for (int r = 0; r < in.pp; ++r) {
    std::vector<Action> lowered, sends;
    for (const Action& a : out.stages[static_cast<std::size_t>(r)]) {
      // Receives for every half go before the action, its sends after it (an FB has two halves).
      sends.clear();
      for (const Action& half : parts(a)) {
        const int c = half.chunk;
        // Cross-stage neighbours of this chunk (same-stage neighbours hand over in memory).
        const bool remote_prev = c > 0 && in.stage_of(c - 1) != r;
        const bool remote_next = c < last && in.stage_of(c + 1) != r;
        if (half.type == ActionType::kF) {
          if (remote_prev) lowered.push_back({ActionType::kRecvF, half.mb, c});
          if (remote_next) sends.push_back({ActionType::kSendF, half.mb, c});
        } else if (half.is_backward_input()) {
          if (remote_next) lowered.push_back({ActionType::kRecvB, half.mb, c});
          if (remote_prev) sends.push_back({ActionType::kSendB, half.mb, c});
        }
      }
      lowered.push_back(a);
      lowered.insert(lowered.end(), sends.begin(), sends.end());
    }
    out.stages[static_cast<std::size_t>(r)] = std::move(lowered);
  }
  return out;
}

Schedule strip_communication(const Schedule& s) {
  Schedule out = s;
  for (auto& l : out.stages) std::erase_if(l, [](const Action& a) { return !a.is_compute(); });
  return out;
}

}  // namespace trident
