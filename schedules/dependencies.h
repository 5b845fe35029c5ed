// What an action of a lowered schedule needs before it can run, and what it makes available: the
// one statement of the executor's semantics that the validator's deadlock check and the analyzer's
// simulation both follow.
//
//   F(mb, c)       needs forward(mb, c−1) when chunk c−1 is on the same stage (else RECV_F came first)
//   B/I(mb, c)     needs forward(mb, c) and, when c+1 is on the same stage, input_grad(mb, c+1)
//   W(mb, c)       needs input_grad(mb, c)
//   SEND_F(mb, c)  needs forward(mb, c);       makes sent_f(mb, c)
//   SEND_B(mb, c)  needs input_grad(mb, c);    makes sent_b(mb, c)
//   RECV_F(mb, c)  needs sent_f(mb, c−1) on the peer;  RECV_B(mb, c) needs sent_b(mb, c+1)
//   FB             needs what its F half and its B half need; makes what both make
// Sends never block (non-blocking sends; buffers live until the step ends).
#pragma once

#include <cstdint>
#include <vector>

#include "schedules/schedule.h"

namespace trident {

enum class Event : std::uint8_t { kForward, kInputGrad, kWeightGrad, kSentF, kSentB };

struct EventKey {
  Event event;
  int mb;
  int chunk;
  friend bool operator==(const EventKey&, const EventKey&) = default;
  friend auto operator<=>(const EventKey&, const EventKey&) = default;
};

// Events that must have happened before `a` (on `stage` of schedule `s`) can start.
std::vector<EventKey> needs(const Schedule& s, int stage, const Action& a);
// Events `a` makes happen when it completes.
std::vector<EventKey> makes(const Action& a);

}  // namespace trident
