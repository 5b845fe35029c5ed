// Schedules as data: every generator's output is valid (compute-only and lowered), survives the
// text form unchanged, and the validator rejects each kind of malformed or deadlocking schedule
// with a message naming the stage, the position and the action.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"
#include "schedules/lowering.h"
#include "schedules/validator.h"

namespace trident {
namespace {

std::string first_issue(const Schedule& s) {
  const auto issues = validate(s);
  if (issues.empty()) return "";
  const auto& e = issues.front();
  return "stage " + std::to_string(e.stage) + " position " + std::to_string(e.position) + ": " + e.message;
}

std::vector<Schedule> all_generated() {
  std::vector<Schedule> out;
  for (int p : {1, 2, 3, 4, 8})
    for (int m = 1; m <= 12; ++m) {
      for (auto s : {gpipe(p, m), one_f_one_b(p, m), zb_h1(p, m), zb_h2(p, m), zb_v(p, m), zb_1p(p, m), zb_2p(p, m)})
        out.push_back(s);
      if (m >= 2 * p) out.push_back(dual_pipe_v(p, m));
      for (int v : {1, 2, 3}) out.push_back(looped_bfs(p, v, m));
      for (int v : {2, 3})
        if (m % p == 0) out.push_back(interleaved_1f1b(p, v, m));
    }
  return out;
}

TEST(ScheduleValidator, EveryGeneratedScheduleIsValidAndRoundTripsAsText) {
  for (const Schedule& s : all_generated()) {
    const std::string what = s.name + " pp=" + std::to_string(s.pp) + " v=" + std::to_string(s.v) +
                             " m=" + std::to_string(s.micro_batches);
    ASSERT_EQ(first_issue(s), "") << what;
    const Schedule low = lower(s);
    ASSERT_EQ(first_issue(low), "") << what << " lowered";
    const Schedule back = Schedule::from_text(low.to_text());
    EXPECT_EQ(back.stages, low.stages) << what;
    EXPECT_EQ(back.name, s.name);
    EXPECT_EQ(back.placement, s.placement);
    EXPECT_EQ(strip_communication(low).stages, s.stages) << what;
  }
}

TEST(ScheduleValidator, LoweringPairsEverySendWithOneReceive) {
  const Schedule s = lower(one_f_one_b(2, 2));
  // stage 0 (chunk 0): F, SEND_F after each forward; RECV_B before each backward.
  EXPECT_EQ(Schedule::from_text(s.to_text()).to_text(),
            "schedule 1f1b pp=2 v=1 micro_batches=2 placement=loop\n"
            "stage0: F0.0 SEND_F0.0 F1.0 SEND_F1.0 RECV_B0.0 B0.0 RECV_B1.0 B1.0\n"
            "stage1: RECV_F0.1 F0.1 B0.1 SEND_B0.1 RECV_F1.1 F1.1 B1.1 SEND_B1.1\n");
  // The V placement's turn (chunks pp-1 and pp on one stage) needs no transfer.
  const Schedule v = lower(zb_v(2, 1));
  for (const Action& a : v.stages[1]) {
    EXPECT_FALSE(a.type == ActionType::kSendF && a.chunk == 1) << a.str();
    EXPECT_FALSE(a.type == ActionType::kSendB && a.chunk == 2) << a.str();
  }
}

Schedule parse(const char* text) { return Schedule::from_text(text); }

// An overlapped FB: read and written as "F<mb>.<chunk>+B<mb>.<chunk>"; its halves' receives go
// before it and their sends after it; its halves count as the F and the B of their micro-batches.
TEST(ScheduleValidator, OverlappedForwardBackwardPairs) {
  const Action fb = parse_action("F3.1+B0.2");
  EXPECT_EQ(fb, FB(3, 1, 0, 2));
  EXPECT_EQ(fb.str(), "F3.1+B0.2");
  EXPECT_THROW(parse_action("F3.1+I0.2"), Error);  // pairs a forward with a full backward only
  EXPECT_THROW(parse_action("B0.2+F3.1"), Error);
  EXPECT_THROW(parse_action("F3.1+"), Error);
  // pp = 2, v = 2, V placement: stage 0 holds chunks 0 and 3, stage 1 chunks 1 and 2.
  const Schedule s = parse("schedule x pp=2 v=2 micro_batches=2 placement=v\n"
                           "stage0: F0.0 F1.0 F0.3 F1.3+B0.3 B1.3 B0.0 B1.0\n"
                           "stage1: F0.1 F0.2 F1.1 F1.2 B0.2 B1.2 B0.1 B1.1\n");
  ASSERT_EQ(first_issue(s), "");
  const Schedule low = lower(s);
  ASSERT_EQ(first_issue(low), "");
  EXPECT_EQ(Schedule::from_text(low.to_text()).stages, low.stages);
  // Stage 0's FB: F1.3 receives from chunk 2 first; B0.3 is the loss chunk's and sends its
  // gradient to chunk 2 after.
  const auto& l0 = low.stages[0];
  const auto at = std::find(l0.begin(), l0.end(), FB(1, 3, 0, 3));
  ASSERT_NE(at, l0.end());
  EXPECT_EQ(*(at - 1), (Action{ActionType::kRecvF, 1, 3}));
  EXPECT_EQ(*(at + 1), (Action{ActionType::kSendB, 0, 3}));
  // The analyzer costs the pair as its two halves back to back and holds both activations.
  const Analysis a = analyze(s, ActionCosts{});
  double fb_time = 0;
  for (const TimedAction& t : a.timeline)
    if (t.action.type == ActionType::kFB) fb_time = t.end - t.start;
  EXPECT_DOUBLE_EQ(fb_time, 1.0 + 2.0);

  // Both halves' inputs must be there before the pair starts: pairing the forward that feeds the
  // other stage's pair with a backward that waits for it deadlocks.
  EXPECT_NE(first_issue(parse("schedule x pp=2 v=2 micro_batches=2 placement=v\n"
                              "stage0: F0.0 F1.0 F0.3 F1.3+B0.3 B1.3 B0.0 B1.0\n"
                              "stage1: F0.1 F0.2 F1.1 F1.2+B0.2 B0.1 B1.2 B1.1\n"))
                .find("deadlocks"),
            std::string::npos);
  // The halves must be different micro-batches (a device may run them at once).
  EXPECT_NE(first_issue(parse("schedule x pp=1 v=2 micro_batches=1\nstage0: F0.0 F0.1+B0.1 B0.0\n"))
                .find("same micro-batch"),
            std::string::npos);
  // Each half counts: a B repeated inside an FB is a repeat.
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=2\nstage0: F0.0 B0.0 F1.0+B0.0 B1.0\n")),
            "stage 0 position 2: B0.0: is repeated (first at position 1)");
}

TEST(ScheduleValidator, RejectsMissingAndRepeatedActions) {
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=2\nstage0: F0.0 F1.0 B0.0\n")),
            "stage 0 position -1: B1.0 (or I and W) is missing");
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=1\nstage0: F0.0 B0.0 B0.0\n")),
            "stage 0 position 2: B0.0: is repeated (first at position 1)");
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=1\nstage0: F0.0 I0.0\n")),
            "stage 0 position -1: W0.0 is missing");
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=1\nstage0: F0.0 B0.0 W0.0\n")),
            "stage 0 position 2: W0.0: runs before its input-gradient half I0.0");
}

TEST(ScheduleValidator, RejectsBackwardBeforeForwardAndForeignChunks) {
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=1\nstage0: B0.0 F0.0\n")),
            "stage 0 position 0: B0.0: runs before its forward F0.0");
  EXPECT_EQ(first_issue(parse("schedule x pp=2 v=1 micro_batches=1\nstage0: F0.0 B0.0 F0.1\nstage1: B0.1\n")),
            "stage 0 position 2: F0.1: chunk 1 is held by stage 1, not this stage");
  EXPECT_EQ(first_issue(parse("schedule x pp=1 v=1 micro_batches=1\nstage0: F0.0 B0.0 F3.0\n")),
            "stage 0 position 2: F3.0: micro-batch 3 is outside [0, 1)");
}

TEST(ScheduleValidator, RejectsUnmatchedAndMisplacedCommunication) {
  // SEND_F0.0 without the RECV_F0.1 on stage 1.
  EXPECT_EQ(first_issue(parse("schedule x pp=2 v=1 micro_batches=1\n"
                              "stage0: F0.0 SEND_F0.0 RECV_B0.0 B0.0\n"
                              "stage1: F0.1 B0.1 SEND_B0.1\n")),
            "stage 1 position -1: RECV_F0.1: is missing: the transfer from the peer has no receive");
  // A receive after the forward that needs it.
  EXPECT_EQ(first_issue(parse("schedule x pp=2 v=1 micro_batches=1\n"
                              "stage0: F0.0 SEND_F0.0 RECV_B0.0 B0.0\n"
                              "stage1: F0.1 RECV_F0.1 B0.1 SEND_B0.1\n")),
            "stage 1 position 1: RECV_F0.1: comes after F0.1 (position 0), which needs it");
  // A send to nobody: chunk 0 has no predecessor.
  EXPECT_EQ(first_issue(parse("schedule x pp=2 v=1 micro_batches=1\n"
                              "stage0: F0.0 SEND_F0.0 RECV_B0.0 B0.0 SEND_B0.0\n"
                              "stage1: RECV_F0.1 F0.1 B0.1 SEND_B0.1\n")),
            "stage 0 position 4: SEND_B0.0: sends to no matching receive (no neighbouring chunk on another stage)");
}

TEST(ScheduleValidator, RejectsADeadlock) {
  // Both stages wait for the other: stage 0 wants stage 1's gradient before sending its activation.
  const Schedule s = parse("schedule x pp=2 v=1 micro_batches=1\n"
                           "stage0: F0.0 RECV_B0.0 SEND_F0.0 B0.0\n"
                           "stage1: RECV_F0.1 F0.1 B0.1 SEND_B0.1\n");
  EXPECT_EQ(first_issue(s),
            "stage -1 position -1: deadlocks: every unfinished stage waits on another: stage 0 at position 1 "
            "(RECV_B0.0), stage 1 at position 0 (RECV_F0.1)");
  try {
    check_valid(s);
    FAIL() << "check_valid must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deadlocks"), std::string::npos);
  }
  // The same deadlock in compute-only form: stage 0 runs B of micro-batch 1 before F of micro-batch 1's
  // successor can exist (GPipe order reversed on the last stage).
  const Schedule c = parse("schedule x pp=2 v=1 micro_batches=2\n"
                           "stage0: F0.0 B0.0 F1.0 B1.0\n"
                           "stage1: F1.1 B1.1 F0.1 B0.1\n");
  EXPECT_NE(first_issue(c).find("deadlocks"), std::string::npos) << first_issue(c);
}

TEST(ScheduleValidator, TextErrorsNameTheLine) {
  try {
    (void)Schedule::from_text("schedule x pp=2\nstage0: F0.0 X1.0\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schedule line 2: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot read action 'X1.0'"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)Schedule::from_text("stage0: F0.0\n"), Error);
  EXPECT_THROW((void)Schedule::from_text("schedule x pp=2\nstage5: F0.0\n"), Error);
  EXPECT_THROW((void)Schedule::from_text("schedule x pp=0\n"), Error);
  EXPECT_THROW((void)make_schedule("pipedream", 2, 1, 4), Error);
}

TEST(ScheduleValidator, MicroBatchRulesAreEnforced) {
  EXPECT_THROW((void)interleaved_1f1b(4, 2, 6), Error);
  EXPECT_THROW((void)interleaved_1f1b(4, 1, 8), Error);
  EXPECT_THROW((void)gpipe(2, 0), Error);
  EXPECT_NO_THROW((void)interleaved_1f1b(4, 2, 8));
}

}  // namespace
}  // namespace trident
