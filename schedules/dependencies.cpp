#include "schedules/dependencies.h"

namespace trident {

std::vector<EventKey> needs(const Schedule& s, int stage, const Action& a) {
  const int c = a.chunk, last = s.num_chunks() - 1;
  switch (a.type) {
    case ActionType::kF:
      if (c > 0 && s.stage_of(c - 1) == stage) return {{Event::kForward, a.mb, c - 1}};
      return {};
    case ActionType::kB:
    case ActionType::kI:
      if (c < last && s.stage_of(c + 1) == stage) return {{Event::kForward, a.mb, c}, {Event::kInputGrad, a.mb, c + 1}};
      return {{Event::kForward, a.mb, c}};
    case ActionType::kW: return {{Event::kInputGrad, a.mb, c}};
    case ActionType::kSendF: return {{Event::kForward, a.mb, c}};
    case ActionType::kSendB: return {{Event::kInputGrad, a.mb, c}};
    case ActionType::kRecvF: return {{Event::kSentF, a.mb, c - 1}};
    case ActionType::kRecvB: return {{Event::kSentB, a.mb, c + 1}};
    case ActionType::kFB: {
      // The halves are independent (the validator checks it), so the pair needs what either needs.
      std::vector<EventKey> out;
      for (const Action& half : parts(a))
        for (const EventKey& k : needs(s, stage, half)) out.push_back(k);
      return out;
    }
  }
  return {};
}

std::vector<EventKey> makes(const Action& a) {
  switch (a.type) {
    case ActionType::kF: return {{Event::kForward, a.mb, a.chunk}};
    case ActionType::kB: return {{Event::kInputGrad, a.mb, a.chunk}, {Event::kWeightGrad, a.mb, a.chunk}};
    case ActionType::kI: return {{Event::kInputGrad, a.mb, a.chunk}};
    case ActionType::kW: return {{Event::kWeightGrad, a.mb, a.chunk}};
    case ActionType::kSendF: return {{Event::kSentF, a.mb, a.chunk}};
    case ActionType::kSendB: return {{Event::kSentB, a.mb, a.chunk}};
    case ActionType::kRecvF:
    case ActionType::kRecvB: return {};
    case ActionType::kFB: {
      std::vector<EventKey> out;
      for (const Action& half : parts(a))
        for (const EventKey& k : makes(half)) out.push_back(k);
      return out;
    }
  }
  return {};
}

}  // namespace trident
