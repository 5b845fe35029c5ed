// ZB-V (Qi et al. 2024, "Zero Bubble Pipeline Parallelism", §6): the V placement (stage r holds
// chunk a = r on the way down and chunk b = 2pp−1−r on the way back), the backward split into I
// and W, and the paper's hand-built order, which at F = I = W is free of bubbles inside every
// stage's span while holding at most 2pp chunk activations (1F1B's pp stages' worth, a chunk being
// half a stage). torch.distributed.pipelining's ScheduleZBVZeroBubble builds the same order.
//
// Stage r's list, for n micro-batches (phases as the paper's figure shows them):
//   warm-up   2(pp−r)−1 F's of a; then r × (F of b, F of a); then pp−r × (F, I, W of b)
//   steady    while forwards remain: F of a, I and W of a, F of b, I and W of b
//   cool-down r × (I of a, I of b) with their W's held back; pp−r × (I of a, the oldest W of a);
//             then the held-back W's of b, then of a
// The warm-up needs n >= 2pp−1 micro-batches to fill. With fewer, the order is built for 2pp−1 and
// the actions of micro-batches that do not exist are dropped (the stages then wait where they
// would have run them), so any m >= 1 runs.
#include <algorithm>

#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/generators/blank_schedule.h"

namespace trident {

Schedule zb_v(int pp, int m) {
  Schedule s = detail::blank_schedule("zb-v", pp, 2, m, Placement::kVShape);
  const int n = std::max(m, 2 * pp - 1);
  for (int r = 0; r < pp; ++r) {
    auto& list = s.stages[static_cast<std::size_t>(r)];
    const int a = r, b = 2 * pp - 1 - r;
    // Next micro-batch per (type, half): counters advance even for dropped micro-batches.
    int fa = 0, fb = 0, ia = 0, ib = 0, wa = 0, wb = 0;
    auto put = [&](ActionType type, int chunk, int& counter) {
      if (counter < m) list.push_back({type, counter, chunk});
      ++counter;
    };
    for (int k = 0; k < 2 * (pp - r) - 1; ++k) put(ActionType::kF, a, fa);
    for (int k = 0; k < r; ++k) {
      put(ActionType::kF, b, fb);
      put(ActionType::kF, a, fa);
    }
    for (int k = 0; k < pp - r; ++k) {
      put(ActionType::kF, b, fb);
      put(ActionType::kI, b, ib);
      put(ActionType::kW, b, wb);
    }
    while (fb < fa || fa < n) {
      if (fa < n) put(ActionType::kF, a, fa);
      put(ActionType::kI, a, ia);
      put(ActionType::kW, a, wa);
      put(ActionType::kF, b, fb);
      put(ActionType::kI, b, ib);
      put(ActionType::kW, b, wb);
    }
    for (int k = 0; k < r; ++k) {
      put(ActionType::kI, a, ia);
      put(ActionType::kI, b, ib);
    }
    for (int k = 0; k < pp - r; ++k) {
      put(ActionType::kI, a, ia);
      put(ActionType::kW, a, wa);
    }
    while (wb < ib) put(ActionType::kW, b, wb);
    while (wa < ia) put(ActionType::kW, a, wa);
    TRIDENT_CHECK(fa == n && fb == n && ia == n && ib == n && wa == n && wb == n, "zb-v construction for pp=", pp,
                  " micro_batches=", m, " left stage ", r, " unbalanced");
  }
  return s;
}

}  // namespace trident
