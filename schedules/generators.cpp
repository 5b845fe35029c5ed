#include "schedules/generators.h"

#include <algorithm>

#include "core/error.h"
#include "schedules/generators/blank_schedule.h"

namespace trident {

namespace detail {

Schedule blank_schedule(std::string name, int pp, int v, int m, Placement placement) {
  TRIDENT_CHECK(pp >= 1, "pipeline size pp=", pp, " must be at least 1");
  TRIDENT_CHECK(m >= 1, "schedule ", name, " needs at least 1 micro-batch, got micro_batches=", m);
  Schedule s;
  s.name = std::move(name);
  s.pp = pp;
  s.v = v;
  s.micro_batches = m;
  s.placement = placement;
  s.stages.assign(static_cast<std::size_t>(pp), {});
  return s;
}

}  // namespace detail

namespace {
using detail::blank_schedule;
}  // namespace

Schedule gpipe(int pp, int m) {
  Schedule s = blank_schedule("gpipe", pp, 1, m);
  for (int r = 0; r < pp; ++r) {
    auto& l = s.stages[static_cast<std::size_t>(r)];
    for (int i = 0; i < m; ++i) l.push_back(F(i, r));
    for (int i = 0; i < m; ++i) l.push_back(B(i, r));
  }
  return s;
}

Schedule one_f_one_b(int pp, int m) {
  Schedule s = blank_schedule("1f1b", pp, 1, m);
  for (int r = 0; r < pp; ++r) {
    auto& l = s.stages[static_cast<std::size_t>(r)];
    const int warmup = std::min(pp - 1 - r, m);
    int f = 0, b = 0;
    for (; f < warmup; ++f) l.push_back(F(f, r));
    for (; f < m; ++f, ++b) {
      l.push_back(F(f, r));
      l.push_back(B(b, r));
    }
    for (; b < m; ++b) l.push_back(B(b, r));
  }
  return s;
}

Schedule interleaved_1f1b(int pp, int v, int m) {
  TRIDENT_CHECK(v >= 2, "interleaved 1F1B needs v >= 2 chunks per stage, got v=", v, " (use 1f1b for v=1)");
  Schedule s = blank_schedule("interleaved", pp, v, m);
  TRIDENT_CHECK(m % pp == 0, "interleaved 1F1B runs micro-batches in groups of pp: micro_batches=", m,
                " is not a multiple of pp=", pp, "; use a multiple of ", pp, " (e.g. ", (m / pp + 1) * pp, ")");
  // Megatron's order over the m·v "virtual" micro-batches k: groups of pp consecutive micro-batches
  // go through chunk 0, then chunk 1, … (forward), and through chunks v−1 … 0 (backward).
  const int total = m * v;
  auto mb_of = [&](int k) { return (k / (pp * v)) * pp + k % pp; };
  auto local_chunk = [&](int k) { return (k / pp) % v; };
  for (int r = 0; r < pp; ++r) {
    auto& l = s.stages[static_cast<std::size_t>(r)];
    auto fwd = [&](int k) { l.push_back(F(mb_of(k), local_chunk(k) * pp + r)); };
    auto bwd = [&](int k) { l.push_back(B(mb_of(k), (v - 1 - local_chunk(k)) * pp + r)); };
    const int warmup = std::min((pp - r - 1) * 2 + (v - 1) * pp, total);
    int f = 0, b = 0;
    for (; f < warmup; ++f) fwd(f);
    for (; f < total; ++f, ++b) {
      fwd(f);
      bwd(b);
    }
    for (; b < total; ++b) bwd(b);
  }
  return s;
}

Schedule forward_only(const Schedule& like, int m) {
  Schedule s = blank_schedule("forward-only", like.pp, like.v, m, like.placement);
  s.forward_only = true;
  for (int r = 0; r < like.pp; ++r)
    for (int c : s.chunks_of(r))
      for (int mb = 0; mb < m; ++mb) s.stages[static_cast<std::size_t>(r)].push_back(F(mb, c));
  return s;
}

// ---- the registry ------------------------------------------------------------------------------

namespace {

// Adapters from the registry's one signature to each generator's own.
Schedule make_gpipe(int pp, int, int m, const ActionCosts&) { return gpipe(pp, m); }
Schedule make_1f1b(int pp, int, int m, const ActionCosts&) { return one_f_one_b(pp, m); }
Schedule make_interleaved(int pp, int v, int m, const ActionCosts&) { return interleaved_1f1b(pp, v, m); }
Schedule make_looped_bfs(int pp, int v, int m, const ActionCosts&) { return looped_bfs(pp, v, m); }
Schedule make_zb_h1(int pp, int, int m, const ActionCosts&) { return zb_h1(pp, m); }
Schedule make_zb_h2(int pp, int, int m, const ActionCosts&) { return zb_h2(pp, m); }
Schedule make_zb_1p(int pp, int, int m, const ActionCosts& c) { return zb_1p(pp, m, c); }
Schedule make_zb_2p(int pp, int, int m, const ActionCosts& c) { return zb_2p(pp, m, c); }
Schedule make_zb_v(int pp, int, int m, const ActionCosts&) { return zb_v(pp, m); }
Schedule make_dual_pipe_v(int pp, int, int m, const ActionCosts&) { return dual_pipe_v(pp, m); }

constexpr Placement kLoop = Placement::kLoop, kV = Placement::kVShape;

}  // namespace

std::string ScheduleKind::v_rule() const {
  if (fixed_v == 1) return "v = 1 (layout.v does not apply)";
  if (fixed_v > 0) return "v = " + std::to_string(fixed_v) + (placement == Placement::kVShape ? " (the V placement)" : "");
  return "v >= " + std::to_string(min_v);
}

const std::vector<ScheduleKind>& schedule_kinds() {
  static const std::vector<ScheduleKind> kinds = {
      {"gpipe", "all forwards, then all backwards (GPipe)", kLoop, 1, 1, false, false, "any m >= 1", make_gpipe},
      {"1f1b", "one forward one backward (PipeDream-Flush)", kLoop, 1, 1, false, false, "any m >= 1", make_1f1b},
      {"interleaved", "Megatron's interleaved 1F1B, depth first", kLoop, 0, 2, false, false,
       "m a multiple of pp", make_interleaved},
      {"looped-bfs", "interleaved, breadth first (Looped BFS)", kLoop, 0, 1, false, false, "any m >= 1",
       make_looped_bfs},
      {"zb-h1", "zero bubble, handcrafted, 1F1B's memory", kLoop, 1, 1, true, false,
       "any m >= 1 (its bubble (pp-1)(F+I-W) holds for m >= pp)", make_zb_h1},
      {"zb-h2", "zero bubble, handcrafted, ~2x 1F1B's memory", kLoop, 1, 1, true, false,
       "any m >= 1 (zero bubble from m >= 2pp-1)", make_zb_h2},
      {"zb-1p", "automatic scheduler, memory cap pp (1F1B's)", kLoop, 1, 1, true, true,
       "any m >= 1; built for the given costs", make_zb_1p},
      {"zb-2p", "automatic scheduler, memory cap 2pp", kLoop, 1, 1, true, true, "any m >= 1; built for the given costs",
       make_zb_2p},
      {"zb-v", "zero bubble V (the paper's construction)", kV, 2, 2, true, false,
       "any m >= 1 (zero bubble from m >= 2pp)", make_zb_v},
      {"dualpipev", "DualPipeV: V with overlapped F&B pairs", kV, 2, 2, true, false, "m >= 2pp", make_dual_pipe_v},
  };
  return kinds;
}

const ScheduleKind* find_schedule_kind(std::string_view name) {
  for (const ScheduleKind& k : schedule_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<std::string_view> schedule_names() {
  std::vector<std::string_view> out;
  for (const ScheduleKind& k : schedule_kinds()) out.push_back(k.name);
  return out;
}

Schedule make_schedule(std::string_view name, int pp, int v, int m, const ActionCosts& costs) {
  const ScheduleKind* kind = find_schedule_kind(name);
  if (kind == nullptr) {
    std::string list;
    for (std::string_view n : schedule_names()) list += (list.empty() ? "" : ", ") + std::string(n);
    TRIDENT_FAIL("unknown schedule '", name, "': use one of ", list, ", or a schedule file");
  }
  TRIDENT_CHECK(kind->accepts_v(v), "schedule ", name, " runs ", kind->v_rule(), ", got v=", v);
  return kind->make(pp, kind->chunks_per_stage(v), m, costs);
}

}  // namespace trident
