// The automatic scheduler's exact search: branch and bound over every schedule in which each chunk
// runs its F's, I's and W's in micro-batch order, under the memory cap.
//
// A schedule is enumerated once: its actions are placed in order of (start time, stage), each at
// the earliest time its stage and inputs allow (the analyzer's semantics), so a node may only add
// an action that starts no earlier than the last one placed (a later stage at an equal time). Any
// per-stage order the analyzer can run is one such sequence, so nothing is missed; needing
// positive costs (an action starts strictly after everything it waits on started) is why the
// scheduler only runs this search when every cost is positive.
//
// Bound: everything still to run on stage r starts no earlier than max(r's free time, the last
// start placed), so makespan ≥ that + r's remaining work, for every r. Candidates are tried
// earliest first, I before F before W, so good schedules are met early.
#include <algorithm>
#include <cmath>

#include "schedules/generators/schedule_problem.h"

namespace trident::detail {

namespace {

class Search {
 public:
  Search(const ScheduleProblem& p, double upper_bound, std::int64_t max_nodes)
      : p_(p), max_nodes_(max_nodes), best_(upper_bound), eps_(1e-9 * std::max(1.0, upper_bound)),
        now_(static_cast<std::size_t>(p.shape.pp), 0.0), left_(now_.size(), 0.0), stash_(now_.size(), 0),
        nf_(static_cast<std::size_t>(p.chunks), 0), ni_(nf_.size(), 0), nw_(nf_.size(), 0),
        f_end_(static_cast<std::size_t>(p.m * p.chunks), -1.0), i_end_(f_end_.size(), -1.0),
        lists_(now_.size()) {
    for (int c = 0; c < p.chunks; ++c) {
      const auto cu = static_cast<std::size_t>(c);
      left_[static_cast<std::size_t>(p.stage_of[cu])] += p.m * (p.f[cu] + p.i[cu] + p.w[cu]);
    }
  }

  ExactResult run() {
    result_.root_lower_bound = bound(0.0);
    const bool finished = dfs(0.0, 0, p_.compute_actions());
    result_.complete = finished;
    result_.nodes = nodes_;
    return result_;
  }

 private:
  struct Move {
    double start;
    int kind;  // 0 I, 1 F, 2 W: the order candidates are tried in at equal starts
    int stage, chunk, mb;
  };

  double bound(double last_start) const {
    double lb = 0.0;
    for (std::size_t r = 0; r < now_.size(); ++r)
      lb = std::max(lb, left_[r] > 0.0 ? std::max(now_[r], last_start) + left_[r] : now_[r]);
    return lb;
  }

  // False when the node budget ran out (the search is then incomplete).
  bool dfs(double last_start, int last_stage, int remaining) {
    if (++nodes_ > max_nodes_) return false;
    if (remaining == 0) {
      const double makespan = *std::max_element(now_.begin(), now_.end());
      if (makespan < best_ - eps_) {
        best_ = makespan;
        result_.found = true;
        result_.makespan = makespan;
        result_.stages = lists_;
      }
      return true;
    }
    if (bound(last_start) >= best_ - eps_) return true;
    std::vector<Move> moves = candidates(last_start, last_stage);
    std::sort(moves.begin(), moves.end(), [](const Move& a, const Move& b) {
      return a.start != b.start ? a.start < b.start : a.kind < b.kind;
    });
    for (const Move& mv : moves) {
      const Undo undo = apply(mv);
      const bool ok = dfs(mv.start, mv.stage, remaining - 1);
      revert(mv, undo);
      if (!ok) return false;
    }
    return true;
  }

  std::vector<Move> candidates(double last_start, int last_stage) const {
    std::vector<Move> out;
    const int last = p_.chunks - 1;
    for (int r = 0; r < p_.shape.pp; ++r) {
      const auto ru = static_cast<std::size_t>(r);
      auto offer = [&](int kind, int c, int mb, double start) {
        // Canonical order: later in (start, stage) than the last action placed.
        if (start < last_start - eps_ || (start <= last_start + eps_ && r < last_stage)) return;
        out.push_back({start, kind, r, c, mb});
      };
      for (int c : p_.chunks_of[ru]) {
        const auto cu = static_cast<std::size_t>(c);
        const double now = now_[ru];
        if (const int mb = ni_[cu]; mb < nf_[cu] && (c == last || i_end_[p_.at(mb, c + 1)] >= 0.0)) {
          const double own = std::max(now, f_end_[p_.at(mb, c)]);
          offer(0, c, mb, c == last ? own : std::max(own, p_.start(now, i_end_[p_.at(mb, c + 1)], c + 1, c)));
        }
        if (const int mb = nf_[cu]; mb < p_.m && stash_[ru] < p_.cap && (c == 0 || f_end_[p_.at(mb, c - 1)] >= 0.0))
          offer(1, c, mb, c == 0 ? now : p_.start(now, f_end_[p_.at(mb, c - 1)], c - 1, c));
        if (nw_[cu] < ni_[cu]) offer(2, c, nw_[cu], now);
      }
    }
    return out;
  }

  struct Undo {
    double now, cost;
  };
  Undo apply(const Move& mv) {
    const auto ru = static_cast<std::size_t>(mv.stage), cu = static_cast<std::size_t>(mv.chunk);
    const double cost = mv.kind == 0 ? p_.i[cu] : mv.kind == 1 ? p_.f[cu] : p_.w[cu];
    const Undo undo{now_[ru], cost};
    now_[ru] = mv.start + cost;
    left_[ru] -= cost;
    if (mv.kind == 0) {
      i_end_[p_.at(mv.mb, mv.chunk)] = now_[ru];
      ++ni_[cu];
      lists_[ru].push_back(I(mv.mb, mv.chunk));
    } else if (mv.kind == 1) {
      f_end_[p_.at(mv.mb, mv.chunk)] = now_[ru];
      ++nf_[cu];
      ++stash_[ru];
      lists_[ru].push_back(F(mv.mb, mv.chunk));
    } else {
      ++nw_[cu];
      --stash_[ru];
      lists_[ru].push_back(W(mv.mb, mv.chunk));
    }
    return undo;
  }

  void revert(const Move& mv, const Undo& undo) {
    const auto ru = static_cast<std::size_t>(mv.stage), cu = static_cast<std::size_t>(mv.chunk);
    left_[ru] += undo.cost;
    now_[ru] = undo.now;
    lists_[ru].pop_back();
    if (mv.kind == 0) {
      i_end_[p_.at(mv.mb, mv.chunk)] = -1.0;
      --ni_[cu];
    } else if (mv.kind == 1) {
      f_end_[p_.at(mv.mb, mv.chunk)] = -1.0;
      --nf_[cu];
      --stash_[ru];
    } else {
      --nw_[cu];
      ++stash_[ru];
    }
  }

  const ScheduleProblem& p_;
  std::int64_t max_nodes_;
  std::int64_t nodes_ = 0;
  double best_;
  double eps_;
  std::vector<double> now_, left_;  // per stage: free time, remaining work
  std::vector<int> stash_;
  std::vector<int> nf_, ni_, nw_;  // per chunk: next micro-batch of each type
  std::vector<double> f_end_, i_end_;
  std::vector<std::vector<Action>> lists_;
  ExactResult result_;
};

}  // namespace

ExactResult exact_search(const ScheduleProblem& problem, double upper_bound, std::int64_t max_nodes) {
  return Search(problem, upper_bound, max_nodes).run();
}

}  // namespace trident::detail
