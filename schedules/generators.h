// Schedule generators: compute-only action lists (F, B or I + W) for every stage. Lowering adds
// the communication; the validator checks the result before anything runs it.
//
// Micro-batch rules (violations are errors naming the rule and the fix):
//   gpipe, 1f1b      m >= 1
//   interleaved      v >= 2 and m a multiple of pp (Megatron's rule for its interleaved order)
//   zb-h1            m >= 1 (the published bubble (p−1)(F+I−W) holds for m >= p)
//   zb-v             m >= 1, v = 2 with the V placement
#pragma once

#include <string_view>
#include <vector>

#include "schedules/schedule.h"

namespace trident {

// All forwards, then all backwards (Huang et al. 2019). Peak stash m on every stage.
Schedule gpipe(int pp, int micro_batches);
// PipeDream-Flush 1F1B (Narayanan et al. 2021): pp−1−r warm-up forwards on stage r, then one
// forward one backward, then the remaining backwards. Peak stash pp−r.
Schedule one_f_one_b(int pp, int micro_batches);
// Megatron's interleaved 1F1B over v chunks per stage (chunk c on stage c mod pp).
Schedule interleaved_1f1b(int pp, int v, int micro_batches);
// ZB-H1 (Qi et al. 2023): 1F1B with B split into I and W; stage r runs pp−r warm-up forwards and
// holds back its first r W's to fill the cool-down bubble. Peak stash pp on every stage, as 1F1B's
// first stage.
Schedule zb_h1(int pp, int micro_batches);
// ZB-V-style V-shape schedule: stage r holds chunks r and 2pp−1−r; actions are placed by a greedy
// list scheduler over unit costs (I first, then F while fewer than 2pp chunk activations are
// stashed, then W), the heuristic of the zero-bubble paper, then fixed as data.
Schedule zb_v(int pp, int micro_batches);

// Evaluation: forwards only, for the chunks and placement of `like` (each stage runs its chunks in
// ascending order, every micro-batch of one chunk before the next).
Schedule forward_only(const Schedule& like, int micro_batches);

// By name: "gpipe", "1f1b", "interleaved", "zb-h1", "zb-v" (v applies to interleaved only).
Schedule make_schedule(std::string_view name, int pp, int v, int micro_batches);
std::vector<std::string_view> schedule_names();

}  // namespace trident
