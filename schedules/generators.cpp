#include "schedules/generators.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "core/error.h"

namespace trident {

namespace {

Schedule blank(std::string name, int pp, int v, int m, Placement placement = Placement::kLoop) {
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

}  // namespace

Schedule gpipe(int pp, int m) {
  Schedule s = blank("gpipe", pp, 1, m);
  for (int r = 0; r < pp; ++r) {
    auto& l = s.stages[static_cast<std::size_t>(r)];
    for (int i = 0; i < m; ++i) l.push_back(F(i, r));
    for (int i = 0; i < m; ++i) l.push_back(B(i, r));
  }
  return s;
}

Schedule one_f_one_b(int pp, int m) {
  Schedule s = blank("1f1b", pp, 1, m);
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
  Schedule s = blank("interleaved", pp, v, m);
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

Schedule zb_h1(int pp, int m) {
  Schedule s = blank("zb-h1", pp, 1, m);
  for (int r = 0; r < pp; ++r) {
    auto& l = s.stages[static_cast<std::size_t>(r)];
    int f = 0, i = 0, w = 0;
    // One more warm-up forward than 1F1B: the steady phase starts with I, whose gradient (without
    // W in its way) arrives pp−1−r units after this stage's warm-up ends.
    for (; f < std::min(pp - r, m); ++f) l.push_back(F(f, r));
    // Stage r holds back its first r W's; they fill the bubble the fast-travelling I's leave in
    // the cool-down, and the stash stays at most pp.
    auto i_then_w = [&] {
      l.push_back(I(i, r));
      ++i;
      if (i > r) l.push_back(W(w++, r));
    };
    for (; f < m; ++f) {
      i_then_w();
      l.push_back(F(f, r));
    }
    while (i < m) i_then_w();
    while (w < m) l.push_back(W(w++, r));
  }
  return s;
}

Schedule zb_v(int pp, int m) {
  Schedule s = blank("zb-v", pp, 2, m, Placement::kVShape);
  const int chunks = 2 * pp;
  const int limit = 2 * pp;  // stashed chunk activations per stage: 2pp chunks of half a stage = 1F1B's pp stages' worth
  using Key = std::tuple<int, int, int>;  // (type, mb, chunk)
  std::map<Key, double> done;             // end time of each scheduled action, unit costs
  std::vector<double> now(static_cast<std::size_t>(pp), 0.0);
  std::vector<int> stashed(static_cast<std::size_t>(pp), 0);
  auto key = [](ActionType t, int mb, int c) { return Key{static_cast<int>(t), mb, c}; };
  auto finished = [&](ActionType t, int mb, int c, double& ready) {
    auto it = done.find(key(t, mb, c));
    if (it == done.end()) return false;
    ready = std::max(ready, it->second);
    return true;
  };
  const int total = 3 * m * chunks;
  for (int scheduled = 0; scheduled < total; ++scheduled) {
    // Each stage's best next action: earliest start, then I before F before W, then the later
    // chunk (drains the V's second half first), then the lower micro-batch.
    struct Pick {
      double start;
      int priority, neg_chunk, mb, stage;
      ActionType type;
    };
    std::optional<Pick> best;
    for (int r = 0; r < pp; ++r) {
      for (int c : s.chunks_of(r)) {
        for (int mb = 0; mb < m; ++mb) {
          for (ActionType t : {ActionType::kI, ActionType::kF, ActionType::kW}) {
            if (done.count(key(t, mb, c))) continue;
            double ready = now[static_cast<std::size_t>(r)];
            bool ok = true;
            if (t == ActionType::kF) {
              ok = (c == 0 || finished(ActionType::kF, mb, c - 1, ready)) && stashed[static_cast<std::size_t>(r)] < limit;
            } else if (t == ActionType::kI) {
              ok = finished(ActionType::kF, mb, c, ready) && (c == chunks - 1 || finished(ActionType::kI, mb, c + 1, ready));
            } else {
              ok = finished(ActionType::kI, mb, c, ready);
            }
            if (!ok) continue;
            const int priority = t == ActionType::kI ? 0 : t == ActionType::kF ? 1 : 2;
            const Pick p{ready, priority, -c, mb, r, t};
            auto better = [](const Pick& a, const Pick& b) {
              return std::tie(a.start, a.priority, a.neg_chunk, a.mb, a.stage) <
                     std::tie(b.start, b.priority, b.neg_chunk, b.mb, b.stage);
            };
            if (!best || better(p, *best)) best = p;
          }
        }
      }
    }
    TRIDENT_CHECK(best.has_value(), "zb-v construction stalled at pp=", pp, " micro_batches=", m);
    const Pick& p = *best;
    const int c = -p.neg_chunk;
    done[key(p.type, p.mb, c)] = p.start + 1.0;
    now[static_cast<std::size_t>(p.stage)] = p.start + 1.0;
    if (p.type == ActionType::kF) ++stashed[static_cast<std::size_t>(p.stage)];
    if (p.type == ActionType::kW) --stashed[static_cast<std::size_t>(p.stage)];
    s.stages[static_cast<std::size_t>(p.stage)].push_back({p.type, p.mb, c});
  }
  return s;
}

Schedule forward_only(const Schedule& like, int m) {
  Schedule s = blank("forward-only", like.pp, like.v, m, like.placement);
  s.forward_only = true;
  for (int r = 0; r < like.pp; ++r)
    for (int c : s.chunks_of(r))
      for (int mb = 0; mb < m; ++mb) s.stages[static_cast<std::size_t>(r)].push_back(F(mb, c));
  return s;
}

std::vector<std::string_view> schedule_names() { return {"gpipe", "1f1b", "interleaved", "zb-h1", "zb-v"}; }

Schedule make_schedule(std::string_view name, int pp, int v, int m) {
  if (name == "gpipe") return gpipe(pp, m);
  if (name == "1f1b") return one_f_one_b(pp, m);
  if (name == "interleaved") return interleaved_1f1b(pp, v, m);
  if (name == "zb-h1") return zb_h1(pp, m);
  if (name == "zb-v") return zb_v(pp, m);
  TRIDENT_FAIL("unknown schedule '", name, "': use gpipe, 1f1b, interleaved, zb-h1, zb-v, or a schedule file");
}

}  // namespace trident
