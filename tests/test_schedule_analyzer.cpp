// The analyzer against the published closed forms of each schedule (unit costs, no latency unless
// a test says so), its latency model, deadlock reports, and the ASCII and Chrome-trace renderings.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/trace.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"
#include "schedules/lowering.h"
#include "schedules/timeline.h"

namespace trident {
namespace {

ActionCosts costs(double f, double b, double i, double w, double p2p = 0.0) {
  ActionCosts c;
  c.f = f;
  c.b = b;
  c.i = i;
  c.w = w;
  c.p2p = p2p;
  return c;
}

std::string where(int p, int m, int v = 1) {
  return "p=" + std::to_string(p) + " m=" + std::to_string(m) + " v=" + std::to_string(v);
}

// ---- gpipe and 1F1B ---------------------------------------------------------------------------

// Both schedules fill the pipe with p−1 forwards and drain it with p−1 backwards; in between every
// stage is busy, so the makespan is (m + p − 1)(f + b) whatever f and b are.
TEST(ScheduleAnalyzer, GpipeAnd1f1bMakespanAndBubbleMatchClosedForm) {
  for (const auto& [f, b] : {std::pair{1.0, 2.0}, std::pair{1.0, 1.0}}) {
    for (const char* name : {"gpipe", "1f1b"}) {
      for (int p : {1, 2, 4, 8}) {
        for (int m = 1; m <= 16; ++m) {
          SCOPED_TRACE(std::string(name) + " " + where(p, m) + " f=" + std::to_string(f) + " b=" + std::to_string(b));
          const Analysis a = analyze(make_schedule(name, p, 1, m), costs(f, b, 1, 1));
          EXPECT_DOUBLE_EQ(a.makespan, (m + p - 1) * (f + b));
          ASSERT_EQ(a.bubble_fraction.size(), static_cast<std::size_t>(p));
          for (int r = 0; r < p; ++r) {
            EXPECT_DOUBLE_EQ(a.busy[r], m * (f + b)) << "stage " << r;
            EXPECT_DOUBLE_EQ(a.bubble[r], (p - 1) * (f + b)) << "stage " << r;
            EXPECT_NEAR(a.bubble_fraction[r], double(p - 1) / (m + p - 1), 1e-12) << "stage " << r;
          }
        }
      }
    }
  }
}

TEST(ScheduleAnalyzer, GpipeStashesEveryMicroBatchOnEveryRank) {
  for (int p : {1, 2, 4, 8})
    for (int m = 1; m <= 16; ++m) {
      const Analysis a = analyze(gpipe(p, m), costs(1, 2, 1, 1));
      for (int r = 0; r < p; ++r) EXPECT_EQ(a.peak_stash[r], m) << where(p, m) << " stage " << r;
    }
}

// Stage r runs p−1−r warm-up forwards and one more before its first backward.
TEST(ScheduleAnalyzer, OneFOneBStashIsPMinusRankCappedByM) {
  for (int p : {1, 2, 4, 8})
    for (int m = 1; m <= 16; ++m) {
      const Analysis a = analyze(one_f_one_b(p, m), costs(1, 2, 1, 1));
      for (int r = 0; r < p; ++r) EXPECT_EQ(a.peak_stash[r], std::min(p - r, m)) << where(p, m) << " stage " << r;
      if (m >= p) {
        EXPECT_EQ(a.peak_stash.front(), p) << where(p, m);
        EXPECT_EQ(a.peak_stash.back(), 1) << where(p, m);
      }
    }
}

// ---- interleaved 1F1B -------------------------------------------------------------------------

// Megatron (Narayanan et al. 2021, §2.2): with v chunks per stage the fill and drain cost p−1 chunk
// forwards and backwards, while the work is v·m chunk passes: bubble (p−1)/(v·m + p − 1).
TEST(ScheduleAnalyzer, InterleavedBubbleShrinksByV) {
  const double f = 1, b = 2;
  for (int p : {1, 2, 4, 8}) {
    std::vector<int> vs = {2};
    if (p == 2 || p == 4) vs.push_back(3);
    for (int v : vs)
      for (int m = p; m <= 16; m += p) {
        SCOPED_TRACE(where(p, m, v));
        const Analysis a = analyze(interleaved_1f1b(p, v, m), costs(f, b, 1, 1));
        EXPECT_DOUBLE_EQ(a.makespan, (v * m + p - 1) * (f + b));
        for (int r = 0; r < p; ++r) {
          EXPECT_DOUBLE_EQ(a.busy[r], v * m * (f + b)) << "stage " << r;
          EXPECT_NEAR(a.bubble_fraction[r], double(p - 1) / (v * m + p - 1), 1e-12) << "stage " << r;
        }
      }
  }
}

// ---- zero bubble ------------------------------------------------------------------------------

// ZB-H1 (Qi et al. 2023, §3.1): the held-back W's fill the cool-down, leaving (p−1)(f + i − w) of
// bubble on every stage; the busy time is m(f + i + w).
TEST(ScheduleAnalyzer, ZbH1BubbleIsPMinusOneTimesFPlusIMinusW) {
  for (const double w : {1.0, 0.5}) {
    const double f = 1, i = 1;
    for (int p : {1, 2, 4, 8})
      for (int m = p; m <= 16; ++m) {
        SCOPED_TRACE(where(p, m) + " w=" + std::to_string(w));
        const Analysis a = analyze(zb_h1(p, m), costs(f, 2, i, w));
        const double bubble = (p - 1) * (f + i - w);
        EXPECT_DOUBLE_EQ(a.makespan, m * (f + i + w) + bubble);
        if (w == 1.0) {
          EXPECT_DOUBLE_EQ(a.makespan, 3 * m + p - 1);
        }
        for (int r = 0; r < p; ++r) {
          EXPECT_DOUBLE_EQ(a.bubble[r], bubble) << "stage " << r;
          EXPECT_LE(a.peak_stash[r], p) << "stage " << r;
        }
      }
  }
}

// A V chunk is half a stage, so ZB-V at f = i = w = 1 per chunk does the same work per stage as
// ZB-H1 at f = i = w = 2 per stage; ZB-V's V placement leaves it less bubble.
TEST(ScheduleAnalyzer, ZbVBubbleBelowZbH1AndStashAtMostTwoP) {
  for (int p : {1, 2, 4, 8})
    for (int m = 2 * p; m <= 16; ++m) {
      SCOPED_TRACE(where(p, m, 2));
      const Analysis v = analyze(zb_v(p, m), costs(1, 2, 1, 1));
      const Analysis h = analyze(zb_h1(p, m), costs(2, 4, 2, 2));
      const double v_worst = *std::max_element(v.bubble_fraction.begin(), v.bubble_fraction.end());
      const double h_best = *std::min_element(h.bubble_fraction.begin(), h.bubble_fraction.end());
      if (p == 1) {
        EXPECT_DOUBLE_EQ(v_worst, 0.0);
        EXPECT_DOUBLE_EQ(h_best, 0.0);
      } else {
        EXPECT_LT(v_worst, h_best);
      }
      for (int r = 0; r < p; ++r) {
        EXPECT_DOUBLE_EQ(v.busy[r], 2 * 3 * m) << "stage " << r;
        EXPECT_LE(v.peak_stash[r], 2 * p) << "stage " << r;
      }
    }
}

// ---- latency ----------------------------------------------------------------------------------

// Latency d on every link. The fill and the drain cross p−1 links each, so the makespan is at least
// (m + p − 1)(f + b) + 2(p − 1)d, and with m <= 2 micro-batches (no steady state) that is exact.
// From m = 3 on, the steady state cannot hide the latency: 1F1B keeps exactly p micro-batches in
// flight on stage 0 with no slack (between F_k and B_k stage 0 runs p−1 forwards and p−1 backwards,
// exactly the p−1 downstream F + B of micro-batch k), so stage 0's B_k → F_{k+p} → through the pipe
// and back → B_{k+p} is a cycle of p(f + b) + 2(p − 1)d: every p more micro-batches add that period.
// Following the critical path (which still does (m + p − 1)(f + b) of compute) gives one extra round
// trip 2d for each micro-batch k in [1, m − 2] that is not a multiple of p:
//   makespan = (m + p − 1)(f + b) + 2(p − 1)d + 2d·((m − 2) − ⌊(m − 2)/p⌋)        (m >= 2)
// e.g. p = 2, m = 3, f = 1, b = 2, d = 0.5: 12 + 1 + 1 = 14, not the fill-and-drain 13. This was
// derived from the critical path and checked for f, b, d of several ratios (d up to 10·f).
double one_f_one_b_latency_makespan(int p, int m, double f, double b, double d) {
  const int extra = m >= 2 ? (m - 2) - (m - 2) / p : 0;
  return (m + p - 1) * (f + b) + 2 * (p - 1) * d + 2 * d * extra;
}

TEST(ScheduleAnalyzer, OneFOneBLatencyFillDrainAndSteadyStateRoundTrips) {
  for (const auto& [f, b, d] : {std::tuple{1.0, 2.0, 0.5}, std::tuple{1.0, 1.0, 0.25}, std::tuple{2.0, 3.0, 4.0}}) {
    for (int p : {1, 2, 4, 8}) {
      std::vector<double> makespan(17);
      for (int m = 1; m <= 16; ++m) {
        SCOPED_TRACE(where(p, m) + " f=" + std::to_string(f) + " b=" + std::to_string(b) + " d=" + std::to_string(d));
        makespan[m] = analyze(one_f_one_b(p, m), costs(f, b, 1, 1, d)).makespan;
        const double fill_drain = (m + p - 1) * (f + b) + 2 * (p - 1) * d;
        EXPECT_GE(makespan[m], fill_drain);
        if (m <= 2) {
          EXPECT_DOUBLE_EQ(makespan[m], fill_drain);
        }
        EXPECT_DOUBLE_EQ(makespan[m], one_f_one_b_latency_makespan(p, m, f, b, d));
        // The steady-state period: p more micro-batches cost one stage-0 round trip.
        if (m - p >= 2) {
          EXPECT_DOUBLE_EQ(makespan[m] - makespan[m - p], p * (f + b) + 2 * (p - 1) * d);
        }
      }
    }
  }
}

// Every receive completes no earlier than its send plus the latency, and takes no time.
TEST(ScheduleAnalyzer, ReceivesWaitForTheirSendsPlusLatency) {
  const double d = 0.25;
  for (const char* name : {"gpipe", "1f1b", "interleaved", "zb-h1", "zb-v"}) {
    SCOPED_TRACE(name);
    const int p = 4, m = 8;
    const Schedule s = make_schedule(name, p, 2, m);
    const Analysis a = analyze(s, costs(1, 2, 1, 1, d));
    std::map<std::tuple<ActionType, int, int>, double> sent;
    for (const TimedAction& t : a.timeline)
      if (t.action.is_send()) sent[{t.action.type, t.action.mb, t.action.chunk}] = t.end;
    int receives = 0;
    for (const TimedAction& t : a.timeline) {
      if (!t.action.is_compute()) {
        EXPECT_DOUBLE_EQ(t.start, t.end) << t.action.str();
      }
      if (!t.action.is_recv()) continue;
      ++receives;
      const bool fwd = t.action.type == ActionType::kRecvF;
      const auto it = sent.find({fwd ? ActionType::kSendF : ActionType::kSendB, t.action.mb,
                                 t.action.chunk + (fwd ? -1 : 1)});
      ASSERT_NE(it, sent.end()) << t.action.str();
      EXPECT_GE(t.end, it->second + d) << t.action.str();
    }
    EXPECT_GT(receives, 0);
  }
}

// ---- the timeline -----------------------------------------------------------------------------

TEST(ScheduleAnalyzer, TimelineHoldsEveryActionOfTheLoweredSchedule) {
  const Schedule s = zb_h1(4, 6);
  const Schedule low = lower(s);
  const Analysis a = analyze(s, costs(1, 2, 1, 1));
  std::size_t total = 0;
  for (const auto& l : low.stages) total += l.size();
  ASSERT_EQ(a.timeline.size(), total);
  std::size_t k = 0;
  for (int r = 0; r < s.pp; ++r) {
    double prev_end = 0;
    for (const Action& act : low.stages[r]) {
      const TimedAction& t = a.timeline[k++];
      EXPECT_EQ(t.stage, r);
      EXPECT_EQ(t.action, act);
      EXPECT_GE(t.start, prev_end) << act.str();  // one action at a time per stage, in list order
      EXPECT_DOUBLE_EQ(t.end - t.start, costs(1, 2, 1, 1).of(act.type)) << act.str();
      prev_end = t.end;
    }
  }
  // The lowered and the compute-only forms are the same schedule to the analyzer.
  const Analysis b = analyze(low, costs(1, 2, 1, 1));
  EXPECT_DOUBLE_EQ(a.makespan, b.makespan);
  EXPECT_EQ(a.peak_stash, b.peak_stash);
}

// I keeps the activation alive for its W; only B or W free it.
TEST(ScheduleAnalyzer, StashCountsIUntilW) {
  const Schedule s = Schedule::from_text("schedule custom pp=1 v=1 micro_batches=3\n"
                                         "stage0: F0.0 F1.0 I0.0 I1.0 F2.0 W0.0 B2.0 W1.0\n");
  const Analysis a = analyze(s, costs(1, 2, 1, 1));
  EXPECT_EQ(a.peak_stash[0], 3);
  EXPECT_DOUBLE_EQ(a.makespan, 3 + 2 + 2 + 2);
  EXPECT_DOUBLE_EQ(a.bubble[0], 0.0);
}

// ---- deadlocks and bad input ------------------------------------------------------------------

TEST(ScheduleAnalyzer, DeadlockNamesEveryStuckRankAndWhatItWaitsOn) {
  // Stage 0 waits for the gradient before sending the activation stage 1 needs to produce it.
  const Schedule s = Schedule::from_text("schedule custom pp=2 v=1 micro_batches=1\n"
                                         "stage0: F0.0 RECV_B0.0 SEND_F0.0 B0.0\n"
                                         "stage1: RECV_F0.1 F0.1 B0.1 SEND_B0.1\n");
  try {
    analyze(s, costs(1, 2, 1, 1));
    FAIL() << "expected a deadlock";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
    EXPECT_NE(msg.find("stage 0 waits at position 1 on RECV_B0.0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("SEND_B0.1 on stage 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("stage 1 waits at position 0 on RECV_F0.1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("SEND_F0.0 on stage 0"), std::string::npos) << msg;
  }
}

// A stage that would need its own later action can never move either.
TEST(ScheduleAnalyzer, DeadlockOnTheStagesOwnOrder) {
  const Schedule s = Schedule::from_text("schedule custom pp=1 v=1 micro_batches=1\nstage0: B0.0 F0.0\n");
  try {
    analyze(s, costs(1, 2, 1, 1));
    FAIL() << "expected a deadlock";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stage 0 waits at position 0 on B0.0 for F0.0 on stage 0"), std::string::npos)
        << e.what();
  }
}

TEST(ScheduleAnalyzer, RejectsActionsOutsideTheSchedule) {
  // Chunk 1 lives on stage 1.
  EXPECT_THROW(analyze(Schedule::from_text("schedule custom pp=2 v=1 micro_batches=1\nstage0: F0.1\n"),
                       costs(1, 2, 1, 1)),
               Error);
  // Micro-batch 1 of a 1-micro-batch step.
  EXPECT_THROW(analyze(Schedule::from_text("schedule custom pp=1 v=1 micro_batches=1\nstage0: F1.0 B1.0\n"),
                       costs(1, 2, 1, 1)),
               Error);
  EXPECT_THROW(analyze(gpipe(2, 2), costs(1, -2, 1, 1)), Error);
}

// ---- rendering --------------------------------------------------------------------------------

// 1F1B, p = 2, m = 2, f = 1, b = 2 at two characters per time unit:
//   stage 0: F0 [0,1] F1 [1,2], idle until B0 comes back at 4: B0 [4,6], idle, B1 [7,9]
//   stage 1: idle, F0 [1,2] B0 [2,4] F1 [4,5] B1 [5,7], idle until the makespan 9
TEST(ScheduleAnalyzer, AsciiRenderingOfOneFOneB) {
  const Analysis a = analyze(one_f_one_b(2, 2), costs(1, 2, 1, 1));
  EXPECT_EQ(render_ascii(a, 2, 0.5),
            "stage0 F0F1....B0--..B1--\n"
            "stage1 ..F0B0--F1B1--....\n");
  // One character per unit: labels are cut to the action's width.
  EXPECT_EQ(render_ascii(a, 2),
            "stage0 FF..B0.B1\n"
            "stage1 .FB0FB1..\n");
}

TEST(ScheduleAnalyzer, AsciiRenderingNamesChunksWhenStagesHoldSeveral) {
  const Analysis a = analyze(zb_v(2, 2), costs(1, 2, 1, 1));
  const std::string text = render_ascii(a, 2, 1.0 / 3);
  // Stage 0 holds chunks 0 (a) and 3 (b); the first forward of micro-batch 0 is on chunk 0.
  EXPECT_EQ(text.substr(0, 10), "stage0 F0a") << text;
  EXPECT_NE(text.find("F0b"), std::string::npos) << text;
  EXPECT_NE(text.find("I0b"), std::string::npos) << text;
  // One chunk per stage: no suffix.
  EXPECT_EQ(render_ascii(analyze(gpipe(2, 1), costs(1, 2, 1, 1)), 2, 0.5), "stage0 F0......B0--\nstage1 ..F0B0--....\n");
}

TEST(ScheduleAnalyzer, ChromeTraceHasOneCompleteEventPerComputeAction) {
  const Schedule s = interleaved_1f1b(2, 2, 4);
  const Analysis a = analyze(s, costs(1, 2, 1, 1, 0.5));
  const std::vector<TraceEvent> events = to_trace_events(a.timeline, 1000.0);
  TraceNames names;
  for (int r = 0; r < s.pp; ++r) {
    names.processes[r] = "stage " + std::to_string(r);
    names.threads[{r, 0}] = "compute";
    names.threads[{r, 1}] = "pp comm";
  }
  const auto doc = nlohmann::json::parse(chrome_trace_json(events, names));
  EXPECT_EQ(doc.at("displayTimeUnit"), "ms");
  std::map<int, int> compute_per_stage;
  int metadata = 0, comm = 0;
  for (const auto& e : doc.at("traceEvents")) {
    if (e.at("ph") == "M") {
      ++metadata;
      EXPECT_TRUE(e.at("name") == "process_name" || e.at("name") == "thread_name") << e.dump();
      continue;
    }
    ASSERT_EQ(e.at("ph"), "X") << e.dump();
    const Action act = parse_action(e.at("name").get<std::string>());
    EXPECT_EQ(e.at("args").at("mb"), std::to_string(act.mb));
    EXPECT_EQ(e.at("args").at("chunk"), std::to_string(act.chunk));
    EXPECT_EQ(e.at("pid").get<int>(), s.stage_of(act.chunk)) << e.dump();
    if (act.is_compute()) {
      EXPECT_EQ(e.at("tid"), 0);
      EXPECT_EQ(e.at("cat"), "compute");
      EXPECT_DOUBLE_EQ(e.at("dur").get<double>(), act.type == ActionType::kF ? 1000.0 : 2000.0);
      ++compute_per_stage[e.at("pid").get<int>()];
    } else {
      EXPECT_EQ(e.at("tid"), 1);
      EXPECT_EQ(e.at("cat"), "comm");
      ++comm;
    }
  }
  EXPECT_EQ(metadata, 3 * s.pp);
  EXPECT_GT(comm, 0);
  for (int r = 0; r < s.pp; ++r) EXPECT_EQ(compute_per_stage[r], 2 * s.v * s.micro_batches) << "stage " << r;
}

TEST(ChromeTrace, WritesAtomicallyAndNamesThePathOnFailure) {
  const std::string dir = std::filesystem::temp_directory_path() / ("trident_trace_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/step.json";
  write_chrome_trace(path, {{"F0.0", "compute", 1, 0, 5.0, 2.5, {{"mb", "0"}}}}, {{{1, "stage 1"}}, {}});
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.at("traceEvents").size(), 2u);
  EXPECT_EQ(doc["traceEvents"][0].at("args").at("name"), "stage 1");
  EXPECT_EQ(doc["traceEvents"][1].at("ts"), 5.0);
  EXPECT_EQ(doc["traceEvents"][1].at("dur"), 2.5);
  // Only the final file is left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);

  const std::string missing = dir + "/no/such/dir/step.json";
  try {
    write_chrome_trace(missing, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_THROW(chrome_trace_json({{"bad", "compute", 0, 0, 0.0, -1.0, {}}}), Error);
}

}  // namespace
}  // namespace trident
