// The zero-bubble paper's handcrafted schedules (Qi et al. 2024, "Zero Bubble Pipeline
// Parallelism", §2), one chunk per stage with the backward split into I and W, as one family with
// a memory budget: ZB-H1 at 1F1B's peak memory, ZB-H2 at about twice it.
//
// Stage r runs k_r warm-up forwards, then per micro-batch I, W, F — except that it holds back its
// first d_r W's to the end of its list. At F = I = W the first input gradient reaches stage r
// 2(pp−r)−1 passes after its first forward, so k_r <= 2(pp−r)−1 forwards fit before it; the held-
// back W's fill the cool-down, where the last micro-batches' gradients reach stage r later and
// later. Stage r holds at most k_r + d_r activations, the budget C:
//   k_r = min(2(pp−r)−1, C−r) (at least 1, at most C),  d_r = C − k_r.
//   ZB-H1, C = pp:      k_r = pp−r, d_r = r     bubble (pp−1)(F + I − W), every stage's peak pp
//   ZB-H2, C = 2pp−1:   k_r = 2(pp−r)−1, d_r = 2r   no bubble inside any stage's span at F = I = W,
//                       (pp−1)(F + I − 2W) in general; peak 2pp−1 (the paper's (2p−1)·M_B)
// ZB-H2's stages are packed from their first action to their last, stage r starting r forwards
// after stage 0 and ending as many passes later (a parallelogram: the paper's bubble counts idle
// time inside a stage's span; trident's steps synchronise, so the analyzer's step bubble also
// counts the slanted ends). Both closed forms are checked in tests/test_schedule_zero_bubble.cpp.
#include <algorithm>

#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/generators/blank_schedule.h"

namespace trident {

Schedule zero_bubble_handcrafted(int pp, int m, int budget) {
  TRIDENT_CHECK(budget >= 1, "zero-bubble memory budget ", budget, " must be at least 1 activation per stage");
  Schedule s = detail::blank_schedule("zb-h", pp, 1, m);
  for (int r = 0; r < pp; ++r) {
    auto& list = s.stages[static_cast<std::size_t>(r)];
    const int warmup = std::clamp(std::min(2 * (pp - r) - 1, budget - r), 1, budget);
    const int held = budget - warmup;
    int f = 0, w = 0;
    for (; f < std::min(m, warmup); ++f) list.push_back(F(f, r));
    for (int k = 0; k < m; ++k) {
      list.push_back(I(k, r));
      if (k >= held) list.push_back(W(w++, r));
      if (f < m) list.push_back(F(f++, r));
    }
    while (w < m) list.push_back(W(w++, r));
  }
  return s;
}

Schedule zb_h1(int pp, int m) {
  Schedule s = zero_bubble_handcrafted(pp, m, pp);
  s.name = "zb-h1";
  return s;
}

Schedule zb_h2(int pp, int m) {
  Schedule s = zero_bubble_handcrafted(pp, m, 2 * pp - 1);
  s.name = "zb-h2";
  return s;
}

}  // namespace trident
