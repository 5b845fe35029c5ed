// The automatic scheduler's heuristic (a list scheduler run in several variants) and its entry
// point; the exact search is in exact_search.cpp. See auto_scheduler.h for what and why.
#include "schedules/generators/auto_scheduler.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>

#include "core/error.h"
#include "schedules/generators.h"
#include "schedules/generators/blank_schedule.h"
#include "schedules/generators/schedule_problem.h"
#include "schedules/validator.h"

namespace trident {
namespace detail {

ScheduleProblem::ScheduleProblem(const AutoScheduleOptions& o) {
  TRIDENT_CHECK(o.pp >= 1, "auto scheduler: pp=", o.pp, " must be at least 1");
  TRIDENT_CHECK(o.micro_batches >= 1, "auto scheduler: micro_batches=", o.micro_batches, " must be at least 1");
  TRIDENT_CHECK(o.v >= 1, "auto scheduler: v=", o.v, " must be at least 1 chunk per stage");
  TRIDENT_CHECK(o.placement != Placement::kVShape || o.v == 2, "auto scheduler: the V placement holds exactly 2 ",
                "chunks per stage, got v=", o.v, "; use v=2 or the loop placement");
  shape = blank_schedule(o.name, o.pp, o.v, o.micro_batches, o.placement);
  chunks = o.pp * o.v;
  m = o.micro_batches;
  const ActionCosts& c = o.costs;
  TRIDENT_CHECK(c.per_chunk.empty() || static_cast<int>(c.per_chunk.size()) == chunks, "auto scheduler: ",
                c.per_chunk.size(), " per-chunk costs given for ", chunks, " chunks (pp·v): give one per chunk or none");
  for (int k = 0; k < chunks; ++k) {
    f.push_back(c.of(ActionType::kF, k));
    i.push_back(c.of(ActionType::kI, k));
    w.push_back(c.of(ActionType::kW, k));
  }
  p2p = c.p2p;
  recv = c.recv;
  for (const auto* list : {&f, &i, &w})
    for (const double x : *list)
      TRIDENT_CHECK(std::isfinite(x) && x >= 0.0, "auto scheduler: action costs must be finite and non-negative, got ", x);
  TRIDENT_CHECK(std::isfinite(p2p) && p2p >= 0.0 && std::isfinite(recv) && recv >= 0.0, "auto scheduler: p2p=", p2p,
                " and recv=", recv, " must be finite and non-negative");
  cap = o.memory_cap == 0 ? m * o.v : o.memory_cap;
  TRIDENT_CHECK(cap >= o.v, "auto scheduler: memory cap ", cap, " is below v=", o.v, ": one micro-batch holds one ",
                "activation per chunk of a stage until its backward, so use a cap of at least ", o.v);
  chunks_of.resize(static_cast<std::size_t>(o.pp));
  for (int k = 0; k < chunks; ++k) {
    stage_of.push_back(shape.stage_of(k));
    chunks_of[static_cast<std::size_t>(stage_of.back())].push_back(k);
  }
}

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

// One greedy pass over time. Each stage's next action is decided from what has been placed so
// far; the stage whose decision comes earliest is placed (the lowest stage on ties), and the
// stages that placement can affect decide again.
//
// Why only those: decide(r) reads stage r's own state and the F / I end times of the chunks next
// to r's chunks, nothing else, so a stage's decision changes only when r or a stage holding a
// neighbouring chunk places an action. Keeping the others' decisions, and the earliest found by a
// tournament, makes a pass O(actions · log pp) instead of O(actions · pp) decides (3·m·pp
// actions), and gives the same schedule as deciding every stage again.
//
// Each action is placed at the time the analyzer gives it: the lowering puts a receive right
// before its action and a send right after its producer, so both start an action at
// max(stage free + recv, sent + p2p) across stages and max(stage free, made) on one, with the same
// max and + (ScheduleProblem::start). The pass's makespan and peak stash are the analyzer's.
class ListScheduler {
 public:
  ListScheduler(const ScheduleProblem& p, const Variant& v)
      : p_(p), v_(v), stages_(static_cast<std::size_t>(p.shape.pp)), now_(stages_.size(), 0.0),
        stash_(stages_.size(), 0), reserved_(stages_.size(), 0), pending_w_(stages_.size()),
        next_f_(static_cast<std::size_t>(p.chunks), 0), next_i_(next_f_.size(), 0),
        f_end_(static_cast<std::size_t>(p.m * p.chunks), -1.0), i_end_(f_end_.size(), -1.0),
        decided_(stages_.size()), affects_(stages_.size()) {
    for (std::size_t r = 0; r < stages_.size(); ++r) {
      const int local = static_cast<int>(p.chunks_of[r].size());
      const int taper = (p.cap * (p.shape.pp - static_cast<int>(r)) + p.shape.pp - 1) / p.shape.pp;
      limit_.push_back(v.tapered ? std::max(local, taper) : p.cap);
      stale_.push_back(static_cast<int>(r));
      // Stage r's placements reach its own decision and those of the stages holding chunks next
      // to r's (their F's wait on r's F's, their I's on r's I's).
      auto& out = affects_[r];
      out.push_back(static_cast<int>(r));
      for (const int c : p.chunks_of[r])
        for (const int n : {c - 1, c + 1})
          if (n >= 0 && n < p.chunks) out.push_back(p.stage_of[static_cast<std::size_t>(n)]);
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
    }
    while (leaves_ < stages_.size()) leaves_ *= 2;
    winner_.assign(2 * leaves_, -1);
    for (std::size_t r = 0; r < stages_.size(); ++r) winner_[leaves_ + r] = static_cast<int>(r);
  }

  // The stages' action lists; nullopt if the memory cap leaves every stage stuck.
  std::optional<ListSchedule> run() {
    ListSchedule out;
    for (int left = p_.compute_actions(); left > 0; --left) {
      for (const int r : stale_) {
        decided_[static_cast<std::size_t>(r)] = decide(r);
        replay(r);
      }
      stale_.clear();
      if (const Decision& best = decided_[static_cast<std::size_t>(winner_[1])]; best.time < kNever) {
        place(best);
        continue;
      }
      // Nothing is known to become ready: a stage waiting for news with W's pending runs one.
      const auto waiting = std::find_if(pending_w_.begin(), pending_w_.end(), [](const auto& q) { return !q.empty(); });
      if (waiting == pending_w_.end()) return std::nullopt;
      const auto r = static_cast<std::size_t>(waiting - pending_w_.begin());
      place(Decision{now_[r], waiting->front(), static_cast<int>(r)});
    }
    out.makespan = *std::max_element(now_.begin(), now_.end());
    out.peak_stash = peak_stash_;
    out.stages = std::move(stages_);
    return out;
  }

 private:
  struct Decision {
    double time = kNever;  // when the action starts (kNever: the stage waits for news)
    Action action;
    int stage = -1;
  };

  // The tournament over the stages' decisions: winner_[1] is the stage deciding earliest (the
  // lowest on ties: a left subtree holds lower stages). Leaves are winner_[leaves_ + r], -1 past
  // the last stage; replay(r) updates r's path to the root, O(log pp).
  int earlier(int a, int b) const {
    if (a < 0 || b < 0) return std::max(a, b);
    return decided_[static_cast<std::size_t>(b)].time < decided_[static_cast<std::size_t>(a)].time ? b : a;
  }
  void replay(int r) {
    for (std::size_t node = (leaves_ + static_cast<std::size_t>(r)) / 2; node >= 1; node /= 2)
      winner_[node] = earlier(winner_[2 * node], winner_[2 * node + 1]);
  }
  // An I or F this stage could run next: when it could start if the stage were free at `now`.
  struct Candidate {
    int chunk = -1;      // -1: none
    int from = -1;       // the chunk its input comes from (-1: none, the step's edge)
    double produced = 0;  // when that input was produced
    double own = 0;       // an I's own forward's end
    double start(const ScheduleProblem& p, double now) const {
      return std::max(from < 0 ? now : p.start(now, produced, from, chunk), own);
    }
  };

  std::size_t at(int mb, int chunk) const { return p_.at(mb, chunk); }

  // Stage r's choice now: an I or an F that can start without idling, else a W to fill the wait or
  // free memory, else the first input to arrive.
  Decision decide(int r) const {
    const auto ru = static_cast<std::size_t>(r);
    const double t = now_[ru];
    const int last = p_.chunks - 1;
    Candidate in, fwd;
    double in_start = kNever, fwd_start = kNever;
    bool unknown = false, memory_bound = false;
    // Whether k starts at the stage's free time plus its receive, i.e. without idling.
    auto immediate = [&](const Candidate& k, double start) {
      return start <= (k.from >= 0 && p_.remote(k.from, k.chunk) ? t + p_.recv : t);
    };
    for (int c : p_.chunks_of[ru]) {
      const auto cu = static_cast<std::size_t>(c);
      if (const int mb = next_i_[cu]; mb < next_f_[cu]) {  // its F is placed
        Candidate k{c, -1, 0.0, f_end_[at(mb, c)]};
        if (c < last) k = {c, c + 1, i_end_[at(mb, c + 1)], k.own};
        if (k.from >= 0 && k.produced < 0.0) {
          unknown = true;
        } else if (const double start = k.start(p_, t); start < in_start) {  // ties: the later backward
          in = k;
          in_start = start;
        }
      }
      const int mb = next_f_[cu];
      if (mb >= p_.m) continue;
      Candidate k{c};
      if (c > 0) {
        k = {c, c - 1, f_end_[at(mb, c - 1)], 0.0};
        if (k.produced < 0.0) {
          unknown = true;
          continue;
        }
      }
      const double start = k.start(p_, t);
      if (!forward_fits(r, c)) {
        memory_bound = memory_bound || immediate(k, start);
        continue;
      }
      const bool deeper = v_.deep_forward_first ? c > fwd.chunk : c < fwd.chunk;
      if (fwd.chunk < 0 || start < fwd_start || (start == fwd_start && deeper)) {
        fwd = k;
        fwd_start = start;
      }
    }
    auto run = [&](ActionType type, const Candidate& k, double start) {
      const auto cu = static_cast<std::size_t>(k.chunk);
      return Decision{start, Action{type, type == ActionType::kF ? next_f_[cu] : next_i_[cu], k.chunk}, r};
    };
    const bool i_now = in.chunk >= 0 && immediate(in, in_start), f_now = fwd.chunk >= 0 && immediate(fwd, fwd_start);
    if (i_now && (v_.input_grad_first || !f_now)) return run(ActionType::kI, in, in_start);
    if (f_now) return run(ActionType::kF, fwd, fwd_start);

    const auto& pending = pending_w_[ru];
    if (!pending.empty()) {
      // A W fits if the next I or F starts no later for it.
      const double after = t + p_.w[static_cast<std::size_t>(pending.front().chunk)];
      bool fits = !unknown || v_.fill >= 1;
      if (in.chunk >= 0) fits = fits && in.start(p_, after) <= in_start;
      if (fwd.chunk >= 0) fits = fits && fwd.start(p_, after) <= fwd_start;
      if (memory_bound || fits || v_.fill == 2) return Decision{t, pending.front(), r};
    }
    if (in.chunk < 0 && fwd.chunk < 0) return Decision{kNever, Action{}, r};  // waits for news
    return in_start <= fwd_start ? run(ActionType::kI, in, in_start) : run(ActionType::kF, fwd, fwd_start);
  }

  // A new micro-batch enters a stage at its first chunk and will stash one activation per chunk of
  // the stage: it may start only if the stage can hold all of them on top of what the micro-batches
  // already inside still need (so the cap can never strand a micro-batch half-way).
  bool forward_fits(int r, int c) const {
    const auto ru = static_cast<std::size_t>(r);
    const auto& own = p_.chunks_of[ru];
    if (c != own.front()) return stash_[ru] + 1 <= p_.cap;
    return stash_[ru] + reserved_[ru] + static_cast<int>(own.size()) <= limit_[ru];
  }

  void place(const Decision& d) {
    const auto ru = static_cast<std::size_t>(d.stage);
    const Action& a = d.action;
    const double start = d.time;
    double cost = 0.0;
    switch (a.type) {
      case ActionType::kF: {
        cost = p_.f[static_cast<std::size_t>(a.chunk)];
        f_end_[at(a.mb, a.chunk)] = start + cost;
        ++next_f_[static_cast<std::size_t>(a.chunk)];
        peak_stash_ = std::max(peak_stash_, ++stash_[ru]);
        const int local = static_cast<int>(p_.chunks_of[ru].size());
        reserved_[ru] += a.chunk == p_.chunks_of[ru].front() ? local - 1 : -1;
        break;
      }
      case ActionType::kI:
        cost = p_.i[static_cast<std::size_t>(a.chunk)];
        i_end_[at(a.mb, a.chunk)] = start + cost;
        ++next_i_[static_cast<std::size_t>(a.chunk)];
        pending_w_[ru].push_back(W(a.mb, a.chunk));
        break;
      default:  // W
        cost = p_.w[static_cast<std::size_t>(a.chunk)];
        pending_w_[ru].pop_front();
        --stash_[ru];
        break;
    }
    now_[ru] = start + cost;
    stages_[ru].push_back(a);
    stale_ = affects_[ru];
  }

  const ScheduleProblem& p_;
  Variant v_;
  std::vector<std::vector<Action>> stages_;
  std::vector<double> now_;
  std::vector<int> stash_, reserved_, limit_;
  std::vector<std::deque<Action>> pending_w_;  // per stage, W's whose I has run, oldest first
  std::vector<int> next_f_, next_i_;           // per chunk: the next micro-batch
  std::vector<double> f_end_, i_end_;          // per (mb, chunk): end time, -1 until placed
  int peak_stash_ = 0;                         // the most any stage has held
  std::vector<Decision> decided_;              // per stage: its decision, valid unless in stale_
  std::vector<int> stale_;                     // the stages to decide again
  std::size_t leaves_ = 1;                     // the tournament's: a power of two, at least pp
  std::vector<int> winner_;
  std::vector<std::vector<int>> affects_;      // per stage: the stages whose decisions its placements change
};

}  // namespace

std::vector<Variant> variants(const ScheduleProblem& p) {
  std::vector<Variant> out;
  const bool several = p.shape.v > 1;
  for (const bool input_first : {true, false})
    for (const bool deep : {true, false})
      for (const bool tapered : {false, true})
        for (const int fill : {0, 1, 2}) {
          if (deep && !several) continue;  // one chunk per stage: nothing to choose between
          out.push_back({input_first, deep, tapered, fill});
        }
  return out;
}

std::optional<ListSchedule> list_schedule(const ScheduleProblem& p, const Variant& v) { return ListScheduler(p, v).run(); }

// The handcrafted schedules that fit the problem's placement and cap: the heuristic must beat
// them to be chosen, so the result is never worse than the best published construction.
std::vector<Schedule> handcrafted(const ScheduleProblem& p) {
  std::vector<Schedule> out;
  const int pp = p.shape.pp;
  if (p.shape.placement == Placement::kLoop && p.shape.v == 1) {
    // ZB-H1's budget, ZB-H2's, and one between them, each cut to the cap.
    std::vector<int> budgets = {std::min(p.cap, pp), std::min(p.cap, (3 * pp) / 2), std::min(p.cap, 2 * pp - 1)};
    budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
    for (const int budget : budgets) out.push_back(zero_bubble_handcrafted(pp, p.m, budget));
  }
  if (p.shape.placement == Placement::kVShape && p.cap >= 2 * pp) out.push_back(zb_v(pp, p.m));
  return out;
}

}  // namespace detail

AutoScheduleResult auto_schedule(const AutoScheduleOptions& options) {
  const detail::ScheduleProblem problem(options);
  AutoScheduleResult result;
  result.heuristic_makespan = std::numeric_limits<double>::infinity();
  auto consider = [&](Schedule s) {
    s.name = problem.shape.name;
    const Analysis a = analyze(s, options.costs);
    if (*std::max_element(a.peak_stash.begin(), a.peak_stash.end()) > problem.cap) return;
    if (a.makespan < result.heuristic_makespan) {
      result.heuristic_makespan = a.makespan;
      result.schedule = std::move(s);
    }
  };
  // The heuristic's variants are ranked by their own clock, which is the analyzer's (ListScheduler
  // says why; test_auto_scheduler holds them equal), so only the first shortest one is analyzed.
  std::optional<detail::ListSchedule> listed;
  for (const detail::Variant& v : detail::variants(problem)) {
    ++result.variants;
    auto pass = detail::list_schedule(problem, v);
    if (pass && pass->peak_stash <= problem.cap && (!listed || pass->makespan < listed->makespan)) listed = std::move(pass);
  }
  if (listed) {
    Schedule s = problem.shape;
    s.stages = std::move(listed->stages);
    consider(std::move(s));
  }
  for (Schedule& s : detail::handcrafted(problem)) {
    ++result.variants;
    consider(std::move(s));
  }
  TRIDENT_CHECK(result.heuristic_makespan < std::numeric_limits<double>::infinity(), "auto scheduler: memory cap ",
                problem.cap, " leaves no way to run pp=", options.pp, " v=", options.v, " micro_batches=",
                options.micro_batches, ": raise the cap");
  result.makespan = result.heuristic_makespan;

  const bool positive = std::all_of(problem.f.begin(), problem.f.end(), [](double x) { return x > 0; }) &&
                        std::all_of(problem.i.begin(), problem.i.end(), [](double x) { return x > 0; }) &&
                        std::all_of(problem.w.begin(), problem.w.end(), [](double x) { return x > 0; });
  if (positive && options.search_nodes > 0 && problem.compute_actions() <= options.exact_max_actions) {
    const detail::ExactResult exact = detail::exact_search(problem, result.makespan, options.search_nodes);
    result.nodes = exact.nodes;
    result.optimal = exact.complete;
    if (exact.found) {
      result.schedule.stages = exact.stages;
      result.makespan = analyze(result.schedule, options.costs).makespan;
    }
    result.lower_bound = exact.complete ? result.makespan : exact.root_lower_bound;
  }
  check_valid(result.schedule);
  return result;
}

namespace {
Schedule zero_bubble_auto(const char* name, int pp, int m, const ActionCosts& costs, int cap) {
  AutoScheduleOptions o;
  o.name = name;
  o.pp = pp;
  o.micro_batches = m;
  o.costs = costs;
  o.memory_cap = cap;
  return auto_schedule(o).schedule;
}
}  // namespace

Schedule zb_1p(int pp, int m, const ActionCosts& costs) { return zero_bubble_auto("zb-1p", pp, m, costs, pp); }
Schedule zb_2p(int pp, int m, const ActionCosts& costs) { return zero_bubble_auto("zb-2p", pp, m, costs, 2 * pp); }

}  // namespace trident
