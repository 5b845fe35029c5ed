// DualPipeV: the V-shaped, "cut-in-half" form of DeepSeek-V3's DualPipe (DeepSeek-AI 2024, §3.2.1;
// github.com/deepseek-ai/DualPipe, dualpipev.py), which torch.distributed.pipelining ships as
// ScheduleDualPipeV. The V placement (stage r holds chunk a = r and chunk b = 2pp−1−r); in its
// steady state each stage issues a forward of one micro-batch together with the full backward of
// another as one overlapped FB action, so on a device that overlaps them one pass's communication
// hides behind the other's compute (DualPipe's purpose: expert-parallel all-to-all). trident's
// executor runs an FB's halves back to back on the stage's one compute stream (action.h), so here
// the schedule's value is its order, and the analyzer costs an FB as F + B. Part of the backward
// is split into I and W at the edges of the steady state to fill the bubbles, as in DualPipeV.
//
// Stage r's list (m >= 2pp micro-batches; "B" below is the full backward, FB(x, y) = F of x with B of y):
//   1  2(pp−r−1) × F a                        5  pp−r−1 × (B b, FB(b, a))
//   2  r+1 × (F a, F b)                       6  r+1 × (backward b, backward a): full B's, switching to
//   3  pp−r−1 × (I b, its W, F b)                I (W held back) half-way, as DualPipeV does
//   4  m−2pp+r+1 × (FB(a, b), FB(b, a)); the  7  pp−r−1 × (oldest held W, backward a)
//      last stage's first FB(a, b) is split   8  the remaining held W's
//      into F a then B b (shorter first pass)
#include <deque>

#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/generators/blank_schedule.h"

namespace trident {

Schedule dual_pipe_v(int pp, int m) {
  Schedule s = detail::blank_schedule("dualpipev", pp, 2, m, Placement::kVShape);
  TRIDENT_CHECK(m >= 2 * pp, "dualpipev needs at least 2·pp micro-batches (every chunk busy in its steady state), ",
                "got micro_batches=", m, " for pp=", pp, "; use micro_batches >= ", 2 * pp);
  for (int r = 0; r < pp; ++r) {
    auto& list = s.stages[static_cast<std::size_t>(r)];
    const int a = r, b = 2 * pp - 1 - r;
    int next_f[2] = {0, 0}, next_b[2] = {0, 0};  // per half: next micro-batch to forward / backward
    std::deque<Action> held_w;                   // W's of I's already run, oldest first
    auto half = [&](int chunk) { return chunk == a ? 0 : 1; };
    auto fwd = [&](int chunk) { list.push_back(F(next_f[half(chunk)]++, chunk)); };
    auto bwd = [&](int chunk, bool split) {
      const int mb = next_b[half(chunk)]++;
      if (!split) {
        list.push_back(B(mb, chunk));
        return;
      }
      list.push_back(I(mb, chunk));
      held_w.push_back(W(mb, chunk));
    };
    auto overlapped = [&](int f_chunk, int b_chunk) {
      list.push_back(FB(next_f[half(f_chunk)]++, f_chunk, next_b[half(b_chunk)]++, b_chunk));
    };
    auto oldest_w = [&] {
      if (held_w.empty()) return;
      list.push_back(held_w.front());
      held_w.pop_front();
    };

    for (int k = 0; k < 2 * (pp - r - 1); ++k) fwd(a);  // 1
    for (int k = 0; k < r + 1; ++k) {                    // 2
      fwd(a);
      fwd(b);
    }
    for (int k = 0; k < pp - r - 1; ++k) {  // 3
      bwd(b, true);
      oldest_w();
      fwd(b);
    }
    for (int k = 0; k < m - 2 * pp + r + 1; ++k) {  // 4
      if (k == 0 && r == pp - 1) {
        fwd(a);
        bwd(b, false);
      } else {
        overlapped(a, b);
      }
      overlapped(b, a);
    }
    for (int k = 0; k < pp - r - 1; ++k) {  // 5
      bwd(b, false);
      overlapped(b, a);
    }
    bool split = false;  // 6: the second half of these backwards leaves its W's for later
    for (int k = 0; k < r + 1; ++k) {
      if (k == (r + 1) / 2 && r % 2 == 1) split = true;
      bwd(b, split);
      if (k == (r + 1) / 2 && r % 2 == 0) split = true;
      bwd(a, split);
    }
    for (int k = 0; k < pp - r - 1; ++k) {  // 7
      oldest_w();
      bwd(a, split);
    }
    while (!held_w.empty()) oldest_w();  // 8
    TRIDENT_CHECK(next_f[0] == m && next_f[1] == m && next_b[0] == m && next_b[1] == m, "dualpipev construction for pp=",
                  pp, " micro_batches=", m, " left stage ", r, " unbalanced");
  }
  return s;
}

}  // namespace trident
