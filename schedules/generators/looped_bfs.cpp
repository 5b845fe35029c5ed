// Looped BFS (Lamy-Poirier 2023, "Breadth-First Pipeline Parallelism"; torch.distributed.pipelining's
// ScheduleLoopedBFS): the loop placement with v chunks per stage, run breadth first — each stage
// forwards every micro-batch through its first chunk, then through its next, …, and then runs the
// backwards chunk by chunk in reverse, latest micro-batch first (the one whose forward ended last
// is the first whose gradient can come back). Unlike interleaved 1F1B (depth first) it holds
// every micro-batch's activations of every chunk until the backward (m·v, like GPipe), and in
// exchange a micro-batch's traffic to the next stage leaves as a burst, which the breadth-first
// paper overlaps with compute and uses to shard data-parallel state; the bubble is interleaved
// GPipe's: (pp−1)/(v·m + pp − 1) of the step for m >= pp. Any v >= 1 and m >= 1.
#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/generators/blank_schedule.h"

namespace trident {

Schedule looped_bfs(int pp, int v, int m) {
  TRIDENT_CHECK(v >= 1, "looped-bfs needs v >= 1 chunks per stage, got v=", v);
  Schedule s = detail::blank_schedule("looped-bfs", pp, v, m);
  for (int r = 0; r < pp; ++r) {
    auto& list = s.stages[static_cast<std::size_t>(r)];
    const std::vector<int> own = s.chunks_of(r);
    for (int c : own)
      for (int mb = 0; mb < m; ++mb) list.push_back(F(mb, c));
    for (auto c = own.rbegin(); c != own.rend(); ++c)
      for (int mb = m - 1; mb >= 0; --mb) list.push_back(B(mb, *c));
  }
  return s;
}

}  // namespace trident
