// Schedule generators: compute-only action lists (F, B, or I + W, and DualPipeV's overlapped FB)
// for every stage. Lowering adds the communication; the validator checks the result before
// anything runs it. This header is the public entry; the newer families live one per file in
// schedules/generators/ (zero_bubble_handcrafted, zero_bubble_v, dual_pipe_v, looped_bfs,
// auto_scheduler with its exact_search).
//
// The registry (schedule_kinds) says, for every name `layout.schedule` accepts, its placement, its
// chunks per stage, whether it splits the backward, and its micro-batch rule in words; the
// generators enforce the rules (violations are errors naming the rule and the fix), so building a
// schedule is the check.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "schedules/analyzer.h"
#include "schedules/generators/auto_scheduler.h"
#include "schedules/schedule.h"

namespace trident {

// All forwards, then all backwards (Huang et al. 2019). Peak stash m on every stage.
Schedule gpipe(int pp, int micro_batches);
// PipeDream-Flush 1F1B (Narayanan et al. 2021): pp−1−r warm-up forwards on stage r, then one
// forward one backward, then the remaining backwards. Peak stash pp−r.
Schedule one_f_one_b(int pp, int micro_batches);
// Megatron's interleaved 1F1B over v chunks per stage (chunk c on stage c mod pp).
Schedule interleaved_1f1b(int pp, int v, int micro_batches);
// Breadth-first interleaving (looped_bfs.cpp): every micro-batch through a stage's first chunk,
// then its next, …; backwards in reverse. Any v >= 1.
Schedule looped_bfs(int pp, int v, int micro_batches);
// The zero-bubble paper's handcrafted family (zero_bubble_handcrafted.cpp): B split into I and W;
// stage r runs min(2(pp−r)−1, C−r) warm-up forwards, then I, W, F per micro-batch, holding back
// enough W's to the end to use its budget of C activations.
Schedule zero_bubble_handcrafted(int pp, int micro_batches, int budget);
// ZB-H1 (C = pp): pp−r warm-up forwards, the first r W's held back; bubble (pp−1)(F + I − W), peak
// stash pp on every stage, as 1F1B's first stage.
Schedule zb_h1(int pp, int micro_batches);
// ZB-H2 (C = 2pp−1): zero bubble inside each stage's span at F = I = W; peak stash 2pp−1.
Schedule zb_h2(int pp, int micro_batches);
// ZB-V as the paper builds it (zero_bubble_v.cpp): V placement, I/W split, peak stash 2pp chunk
// activations, zero bubble inside each stage's span at F = I = W.
Schedule zb_v(int pp, int micro_batches);
// DualPipeV (dual_pipe_v.cpp): V placement with overlapped FB actions; m >= 2pp.
Schedule dual_pipe_v(int pp, int micro_batches);
// ZB-1p / ZB-2p and the general automatic scheduler: schedules/generators/auto_scheduler.h.

// Evaluation: forwards only, for the chunks and placement of `like` (each stage runs its chunks in
// ascending order, every micro-batch of one chunk before the next).
Schedule forward_only(const Schedule& like, int micro_batches);

// ---- the registry ------------------------------------------------------------------------------

struct ScheduleKind {
  std::string_view name;     // as `layout.schedule` and `trident schedule --name` spell it
  std::string_view summary;  // one line: what it is
  Placement placement;
  int fixed_v;               // chunks per stage when the schedule fixes it (1, or 2 for V); 0: layout.v
  int min_v;                 // the least layout.v accepted when fixed_v is 0
  bool splits_backward;      // runs I and W actions (needs the stage's split backward)
  bool cost_aware;           // built from action costs (the automatic scheduler); unit costs by default
  std::string_view rule;     // the micro-batch rule, in words
  Schedule (*make)(int pp, int v, int micro_batches, const ActionCosts& costs);

  // The chunks per stage this schedule runs when the layout asks for v (fixed_v wins).
  int chunks_per_stage(int v) const { return fixed_v > 0 ? fixed_v : v; }
  // Whether a layout's v is accepted: any v for one-chunk schedules (layout.v does not apply to
  // them), exactly 2 for the V placement, at least min_v otherwise.
  bool accepts_v(int v) const { return fixed_v == 1 || (fixed_v > 0 ? v == fixed_v : v >= min_v); }
  // The chunk rule in words: "v = 1 (layout.v does not apply)", "v = 2 (the V placement)", "v >= 2".
  std::string v_rule() const;
};

// Every schedule, in the order `trident schedule --all` lists them.
const std::vector<ScheduleKind>& schedule_kinds();
// nullptr if `name` is not a schedule.
const ScheduleKind* find_schedule_kind(std::string_view name);
std::vector<std::string_view> schedule_names();

// By name (see schedule_kinds). `v` applies where the schedule's chunk count is not fixed; `costs`
// matter to the cost-aware schedules only (unit F = I = W = 1 by default).
Schedule make_schedule(std::string_view name, int pp, int v, int micro_batches, const ActionCosts& costs = {});

}  // namespace trident
