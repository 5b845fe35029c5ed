// The automatic scheduler against searches written independently of it: for every pp <= 3 and
// m <= 4 (one chunk per stage, I/W split), several cost ratios (latency and blocking receives
// included) and memory caps, no valid schedule is shorter than the one it returns. Also its
// guarantees (never worse than the handcrafted schedules that fit the cap, the cap holds, bad
// options are errors) and reading costs from a run's trace.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/trace.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"
#include "schedules/generators/schedule_problem.h"
#include "schedules/trace_costs.h"
#include "schedules/validator.h"
#include "tests/schedule_test_util.h"

namespace trident {
namespace {

using testing_util::split_costs;

double peak(const Analysis& a) { return *std::max_element(a.peak_stash.begin(), a.peak_stash.end()); }

// ---- an exhaustive search, written apart from the scheduler's --------------------------------
//
// Every schedule of the I/W-split step (any order of micro-batches, not only the scheduler's
// micro-batch order per chunk, except that stage 0 forwards them in index order: micro-batches are
// interchangeable, so that is a relabelling) whose stages never hold more than `cap` activations,
// generated once each: actions are placed in order of (start, stage), each at the earliest time the analyzer
// would start it (the stage free, its input there: p2p after the producer ended, the stage held
// `recv` by a receive), so a branch may only add an action starting no earlier than the last one
// (a later stage at an equal time). Branches that cannot end before `best` are cut: what remains
// on a stage starts no earlier than the last start placed.
class Exhaustive {
 public:
  Exhaustive(int pp, int m, const ActionCosts& c, int cap) : pp_(pp), m_(m), c_(c), cap_(cap) {}

  // The shortest makespan below `bound` (infinity if none is).
  double shortest_below(double bound) {
    best_ = bound;
    now_.assign(pp_, 0.0);
    stash_.assign(pp_, 0);
    left_.assign(pp_, m_ * (c_.f + c_.i + c_.w));
    f_.assign(pp_ * m_, -1.0);
    i_.assign(pp_ * m_, -1.0);
    w_.assign(pp_ * m_, false);
    found_ = std::numeric_limits<double>::infinity();
    search(0.0, 0, 3 * pp_ * m_);
    return found_;
  }

 private:
  void search(double last_start, int last_stage, int remaining) {
    if (remaining == 0) {
      const double makespan = *std::max_element(now_.begin(), now_.end());
      if (makespan < best_ - 1e-9) best_ = found_ = makespan;
      return;
    }
    for (int r = 0; r < pp_; ++r)
      if (left_[r] > 1e-12 && std::max(now_[r], last_start) + left_[r] >= best_ - 1e-9) return;
    for (int r = 0; r < pp_; ++r) {
      for (int mb = 0; mb < m_; ++mb) {
        const int k = r * m_ + mb;
        const double t = now_[r];
        auto input = [&](double produced) { return std::max(t + c_.recv, produced + c_.p2p); };
        // F: the previous stage's forward of mb has run. Micro-batches are interchangeable until
        // they enter the pipe, so stage 0 takes them in index order (a relabelling, no loss).
        const bool next_in = r > 0 || mb == 0 || f_[k - 1] >= 0;
        if (f_[k] < 0 && stash_[r] < cap_ && next_in && (r == 0 || f_[k - m_] >= 0))
          branch(r, last_start, last_stage, remaining, r == 0 ? t : input(f_[k - m_]), c_.f, [&](double end) {
            f_[k] = end;
            ++stash_[r];
          }, [&] {
            f_[k] = -1;
            --stash_[r];
          });
        // I: its own forward and the next stage's I of mb have run.
        if (f_[k] >= 0 && i_[k] < 0 && (r == pp_ - 1 || i_[k + m_] >= 0))
          branch(r, last_start, last_stage, remaining, std::max(f_[k], r == pp_ - 1 ? t : input(i_[k + m_])), c_.i,
                 [&](double end) { i_[k] = end; }, [&] { i_[k] = -1; });
        // W: after its I.
        if (i_[k] >= 0 && !w_[k])
          branch(r, last_start, last_stage, remaining, t, c_.w, [&](double) {
            w_[k] = true;
            --stash_[r];
          }, [&] {
            w_[k] = false;
            ++stash_[r];
          });
      }
    }
  }

  void branch(int r, double last_start, int last_stage, int remaining, double start, double cost,
              const std::function<void(double)>& apply, const std::function<void()>& undo) {
    if (start < last_start - 1e-9 || (start <= last_start + 1e-9 && r < last_stage)) return;
    const double before = now_[r];
    now_[r] = start + cost;
    left_[r] -= cost;
    apply(now_[r]);
    search(start, r, remaining - 1);
    undo();
    left_[r] += cost;
    now_[r] = before;
  }

  int pp_, m_;
  ActionCosts c_;
  int cap_;
  double best_ = 0, found_ = 0;
  std::vector<double> now_, left_, f_, i_;
  std::vector<int> stash_;
  std::vector<bool> w_;
};

AutoScheduleOptions loop_options(int pp, int m, const ActionCosts& c, int cap) {
  AutoScheduleOptions o;
  o.pp = pp;
  o.micro_batches = m;
  o.costs = c;
  o.memory_cap = cap;
  return o;
}

TEST(AutoScheduler, NoScheduleIsShorterThanItsOwnForPpUpTo3AndMUpTo4) {
  const std::vector<ActionCosts> cost_sets = {split_costs(1, 1, 1), split_costs(1, 1.3, 0.6, 0.2),
                                              split_costs(2, 1, 1.5, 0.5, 0.25)};
  int cases = 0;
  for (int pp = 1; pp <= 3; ++pp)
    for (int m = 1; m <= 4; ++m)
      for (const ActionCosts& c : cost_sets)
        for (const int cap : {m, pp, 2}) {  // no cap (m holds everything), 1F1B's, tight
          if (cap < 1) continue;
          const std::string what = "pp=" + std::to_string(pp) + " m=" + std::to_string(m) + " cap=" +
                                   std::to_string(cap) + " f=" + std::to_string(c.f) + " i=" + std::to_string(c.i) +
                                   " w=" + std::to_string(c.w) + " p2p=" + std::to_string(c.p2p);
          const AutoScheduleResult r = auto_schedule(loop_options(pp, m, c, cap));
          EXPECT_TRUE(r.optimal) << what;
          const Analysis a = analyze(r.schedule, c);
          EXPECT_DOUBLE_EQ(a.makespan, r.makespan) << what;
          EXPECT_LE(peak(a), cap) << what;
          // The shortest schedule the search finds (it reaches the scheduler's, so it finds one) is
          // no shorter than the scheduler's.
          EXPECT_NEAR(Exhaustive(pp, m, c, cap).shortest_below(r.makespan + 1e-6), r.makespan, 1e-9) << what;
          ++cases;
        }
  EXPECT_EQ(cases, 3 * 4 * 3 * 3);
}

// The V placement, where the heuristic alone is weaker, on the instances the search covers fast.
TEST(AutoScheduler, VPlacementIsOptimalOnSmallInstances) {
  for (int m = 1; m <= 3; ++m) {
    AutoScheduleOptions o = loop_options(2, m, split_costs(1, 1.3, 0.6, 0.2), 4);
    o.placement = Placement::kVShape;
    o.v = 2;
    const AutoScheduleResult r = auto_schedule(o);
    EXPECT_TRUE(r.optimal) << "m=" << m;
    EXPECT_LE(r.makespan, r.heuristic_makespan);
    EXPECT_LE(peak(analyze(r.schedule, o.costs)), 4);
    EXPECT_EQ(r.schedule.placement, Placement::kVShape);
  }
}

// The scheduler tries the handcrafted schedules that fit its cap, so ZB-1p is never worse than
// ZB-H1, nor ZB-2p than ZB-H2, nor the V search than ZB-V, at any costs.
TEST(AutoScheduler, NeverWorseThanTheHandcraftedSchedulesThatFit) {
  for (const ActionCosts& c : {split_costs(1, 1, 1), split_costs(1.5, 1.2, 0.4, 0.1), split_costs(1, 1, 1.6, 0.3, 0.3)}) {
    for (int pp : {2, 4, 6}) {
      const int m = 2 * pp + 1;
      const Analysis one = analyze(zb_1p(pp, m, c), c), two = analyze(zb_2p(pp, m, c), c);
      EXPECT_LE(one.makespan, analyze(zb_h1(pp, m), c).makespan + 1e-9) << "pp=" << pp;
      EXPECT_LE(two.makespan, analyze(zb_h2(pp, m), c).makespan + 1e-9) << "pp=" << pp;
      EXPECT_LE(peak(one), pp);
      EXPECT_LE(peak(two), 2 * pp);
      AutoScheduleOptions o = loop_options(pp, m, c, 2 * pp);
      o.placement = Placement::kVShape;
      o.v = 2;
      o.exact_max_actions = 0;
      EXPECT_LE(auto_schedule(o).makespan, analyze(zb_v(pp, m), c).makespan + 1e-9) << "pp=" << pp;
    }
  }
}

TEST(AutoScheduler, PerChunkCostsAndNamedErrors) {
  // Uneven chunks (the last holds the output layer): still valid, within the cap, named.
  ActionCosts c = split_costs(1, 1, 1, 0.1);
  c.per_chunk = {{1, 2, 1, 1}, {1, 2, 1, 1}, {1, 2, 1, 1}, {2, 4, 2, 2}};
  AutoScheduleOptions o = loop_options(4, 8, c, 5);
  o.name = "mine";
  const AutoScheduleResult r = auto_schedule(o);
  EXPECT_NO_THROW(check_valid(r.schedule));
  EXPECT_EQ(r.schedule.name, "mine");
  EXPECT_LE(peak(analyze(r.schedule, c)), 5);
  EXPECT_FALSE(r.optimal);  // 96 actions: more than the exact search takes on
  EXPECT_EQ(r.nodes, 0);

  auto message = [](const AutoScheduleOptions& bad) {
    try {
      auto_schedule(bad);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  AutoScheduleOptions bad = loop_options(2, 4, split_costs(1, 1, 1), 1);
  bad.v = 2;
  EXPECT_NE(message(bad).find("memory cap 1 is below v=2"), std::string::npos) << message(bad);
  bad = loop_options(2, 4, split_costs(1, 1, 1), 0);
  bad.placement = Placement::kVShape;
  EXPECT_NE(message(bad).find("exactly 2"), std::string::npos) << message(bad);
  bad = loop_options(2, 4, split_costs(1, -1, 1), 0);
  EXPECT_NE(message(bad).find("non-negative"), std::string::npos) << message(bad);
  bad = loop_options(2, 4, c, 0);  // 4 per-chunk costs for 2 chunks
  EXPECT_NE(message(bad).find("one per chunk"), std::string::npos) << message(bad);
}

// The scheduler ranks its heuristic's variants by the list scheduler's own clock and analyzes only
// the winner, which is the analyzer's choice only if that clock is the analyzer's: every variant's
// makespan and peak stash, bit for bit, on loop and V placements, with latency, blocking receives,
// uneven and zero costs, and tight caps.
TEST(AutoScheduler, EachVariantsOwnClockIsTheAnalyzers) {
  // Uniform, latency, blocking receives, a zero-cost I, and per-chunk costs (the first and last
  // chunk heavier, as a GPT's are) with blocking receives.
  auto costs = [](int set, int chunks) {
    if (set < 4)
      return std::vector{split_costs(1, 1, 1), split_costs(1.3, 1.1, 0.45, 0.13), split_costs(1, 1.2, 0.7, 0.3, 0.3),
                         split_costs(0.9, 0, 0.6, 0.05)}[static_cast<std::size_t>(set)];
    ActionCosts c = split_costs(1, 1, 1, 0.07, 0.07);
    for (int k = 0; k < chunks; ++k)
      c.per_chunk.push_back({1.0 + 0.25 * (k == 0), 2.0, 0.9 + 0.1 * k, 1.1 + 0.5 * (k == chunks - 1)});
    return c;
  };
  int passes = 0;
  for (const auto& [placement, v] : {std::pair{Placement::kLoop, 1}, {Placement::kLoop, 2}, {Placement::kVShape, 2}})
    for (int pp = 1; pp <= 5; ++pp)
      for (const int m : {1, 3, 2 * pp + 1, 4 * pp})
        for (int set = 0; set < 5; ++set)
          for (const int cap : {0, v, pp * v, 2 * pp * v}) {
            AutoScheduleOptions o = loop_options(pp, m, costs(set, pp * v), cap);
            o.placement = placement;
            o.v = v;
            const detail::ScheduleProblem problem(o);
            for (const detail::Variant& variant : detail::variants(problem)) {
              const auto pass = detail::list_schedule(problem, variant);
              if (!pass) continue;
              Schedule s = problem.shape;
              s.stages = pass->stages;
              const Analysis a = analyze(s, o.costs);
              const std::string what = "pp=" + std::to_string(pp) + " v=" + std::to_string(v) + " m=" +
                                       std::to_string(m) + " costs=" + std::to_string(set) + " cap=" + std::to_string(cap);
              EXPECT_EQ(pass->makespan, a.makespan) << what;  // bit for bit
              EXPECT_EQ(pass->peak_stash, static_cast<int>(peak(a))) << what;
              ++passes;
            }
          }
  EXPECT_GT(passes, 3000);
}

// ---- costs from a run's trace ----------------------------------------------------------------

TEST(TraceCosts, MeansPerChunkAndTypeAndSaysWhatWasEstimated) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("trident_costs_" + std::to_string(::getpid()) + ".json")).string();
  // Two ranks ran chunk 0 (tp = 2): their durations average. Chunk 1 ran B only.
  std::vector<TraceEvent> events = {
      {"F0.0", "compute", 0, 0, 0, 1000, {}},  {"F1.0", "compute", 1, 0, 0, 3000, {}},
      {"I0.0", "compute", 0, 0, 0, 500, {}},   {"W0.0", "compute", 0, 0, 0, 1500, {}},
      {"F0.1", "compute", 2, 0, 0, 2000, {}},  {"B0.1", "compute", 2, 0, 0, 6000, {}},
      {"RECV_F0.1", "comm", 2, 1, 0, 9000, {}}, {"F1.0+B0.1", "compute", 2, 0, 0, 9000, {}},
      {"dp reduce (tail)", "comm", 0, 2, 0, 100, {}}};
  write_chrome_trace(path, events);
  const MeasuredCosts m = costs_from_trace(path);
  ASSERT_EQ(m.chunks, 2);
  ASSERT_EQ(m.costs.per_chunk.size(), 2u);
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[0][0], 2.0);  // ms: (1 + 3) / 2
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[0][2], 0.5);
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[0][3], 1.5);
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[0][1], 2.0);  // no B measured: I + W
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[1][1], 6.0);
  EXPECT_DOUBLE_EQ(m.costs.per_chunk[1][2], 3.0);  // estimated: B / 2
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_NE(m.notes[0].find("chunk 1"), std::string::npos);

  // A trace missing a chunk's forwards is an error naming the file and the chunk.
  write_chrome_trace(path, {{"B0.0", "compute", 0, 0, 0, 1000, {}}});
  try {
    costs_from_trace(path);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no forward (F) events of chunk 0"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(costs_from_trace(path), Error);
}

// The executor's timeline reads the same way (the trainer's predicted bubble, bench_pipeline): an
// overlapped FB and the communication are not costs of a single action.
TEST(TraceCosts, TimelineSumsSkipOverlappedPairsAndCommunication) {
  std::vector<double> sums = action_time_sums(2);
  add_action_times({{0, F(0, 0), 0.0, 1.0},
                    {0, F(1, 0), 1.0, 4.0},
                    {0, I(0, 0), 4.0, 5.0},
                    {0, W(0, 0), 5.0, 7.0},
                    {1, FB(1, 1, 0, 1), 0.0, 9.0},
                    {1, F(0, 1), 9.0, 11.0},
                    {1, B(1, 1), 11.0, 15.0},
                    {1, Action{ActionType::kSendF, 0, 1}, 15.0, 16.0}},
                   sums);
  ASSERT_EQ(sums.size(), 16u);
  std::vector<std::string> notes;
  const ActionCosts c = mean_action_costs(sums, &notes);
  ASSERT_EQ(c.per_chunk.size(), 2u);
  EXPECT_DOUBLE_EQ(c.per_chunk[0][0], 2.0);  // (1 + 3) / 2
  EXPECT_DOUBLE_EQ(c.per_chunk[0][1], 3.0);  // B = I + W
  EXPECT_DOUBLE_EQ(c.per_chunk[1][0], 2.0);  // the FB's 9 not counted
  EXPECT_DOUBLE_EQ(c.per_chunk[1][1], 4.0);
  EXPECT_DOUBLE_EQ(c.per_chunk[1][2], 2.0);  // I = W = B/2, said so
  EXPECT_DOUBLE_EQ(c.f, 2.0);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("chunk 1"), std::string::npos);
}

}  // namespace
}  // namespace trident
