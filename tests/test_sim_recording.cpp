// The simulator's op lists come from the real code: a real pipeline step on CPU ranks (the GPT
// stage and the executor, as the trainer runs them), recorded through the CPU op table and the
// mesh's own TP and PP communicators, executes exactly the ops and collectives the simulator
// recorded for the same chunks on a meta device — every GEMM's shape, every other op, every TP
// collective in order, and every point-to-point transfer.
//
// np=1: the whole model, each recompute mode; np=2: tp=2 (with and without sequence parallelism)
// and pp=2 (1F1B and ZB-H1).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "core/op_record.h"
#include "experiments/plan/plan.h"
#include "experiments/sim/chunk_ops.h"
#include "experiments/train/gpt_pipeline_stage.h"
#include "parallel/device_mesh.h"
#include "parallel/recording_communicator.h"
#include "schedules/executor.h"
#include "schedules/generators.h"
#include "schedules/lowering.h"
#include "tests/gpt_test_util.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

struct Recorded : OpSink, CommSink {
  std::vector<OpRecord> ops;
  std::vector<CommRecord> collectives;  // blocking TP collectives, in order
  std::vector<CommRecord> p2p;          // sends and receives (posted ahead of use: compared as a set)
  void record(const OpRecord& op) override { ops.push_back(op); }
  void record(const CommRecord& c) override {
    (c.kind == CommKind::kSend || c.kind == CommKind::kRecv ? p2p : collectives).push_back(c);
  }
  void add(const std::vector<WorkItem>& items) {
    for (const WorkItem& w : items) {
      if (w.kind == WorkItem::Kind::kOp) ops.push_back(w.op);
      if (w.kind == WorkItem::Kind::kComm) collectives.push_back(w.comm);
    }
  }
};

bool by_text(const CommRecord& a, const CommRecord& b) { return a.str() < b.str(); }

// What the simulator expects stage `stage` to execute in one step: its lowered list, each compute
// action as the recorded chunk's items, each transfer as a send or receive of the boundary.
Recorded expected(const GptConfig& c, const Schedule& s, int stage, int tp, int tp_rank, TensorParallelOptions o,
                  std::int64_t b) {
  ChunkRecorder rec(ChunkContext{c, tp, tp_rank, o, b, DType::kF32, DeviceType::kCPU});
  const auto layers = split_layers(c.layers, s.num_chunks());
  const int last = s.num_chunks() - 1;
  auto chunk = [&](int k) -> const ChunkOps& { return rec.get(layers[static_cast<std::size_t>(k)], k == 0, k == last); };
  Recorded e;
  const Schedule lowered = lower(s);  // kept: a range-for over a temporary's member would dangle
  for (const Action& a : lowered.stages[static_cast<std::size_t>(stage)]) {
    for (const Action& half : parts(a)) {
      const ChunkOps& ops = chunk(half.chunk);
      switch (half.type) {
        case ActionType::kF: e.add(ops.forward); break;
        case ActionType::kB: e.add(ops.backward_input), e.add(ops.backward_weight); break;
        case ActionType::kI: e.add(ops.backward_input); break;
        case ActionType::kW: e.add(ops.backward_weight); break;
        default: {
          const bool send = half.is_send();
          // The neighbouring chunk the transfer goes to or comes from.
          const bool forward = half.type == ActionType::kSendF || half.type == ActionType::kRecvF;
          const int other = forward ? (send ? half.chunk + 1 : half.chunk - 1) : (send ? half.chunk - 1 : half.chunk + 1);
          e.p2p.push_back({send ? CommKind::kSend : CommKind::kRecv, "pp", s.pp, ops.boundary_bytes, DType::kF32, true,
                           s.stage_of(other)});
        }
      }
    }
  }
  return e;
}

// Runs one real step of `s` on this rank's stage, recording through the CPU op table and the
// mesh's TP and PP groups; compares with the simulator's expectation.
void check(const MeshLayout& layout, const std::string& schedule, int m, TensorParallelOptions o) {
  Communicator& world = test_world();
  GptConfig c = testing_util::tiny_config();
  c.layers = 4;
  const std::int64_t b = 2;
  const Schedule s = make_schedule(schedule, layout.pp(), 2, m);
  DeviceMesh mesh(world, layout);
  Recorded actual;
  RecordingCommunicator tp(mesh.tp_group(), actual), pp(mesh.pp_group(), actual);
  GptPipelineStage stage(c, s, mesh.coord().pp, &tp, o);
  PipelineExecutor executor(s, &pp);
  stage.set_batch(testing_util::random_tokens(m * b, c, 3, "ids"), testing_util::random_tokens(m * b, c, 3, "targets"));
  {
    const ScopedOpRecording scope(Device::cpu(), actual);
    (void)executor.run(stage);
  }
  Recorded want = expected(c, s, mesh.coord().pp, layout.tp(), mesh.coord().tp, o, b);
  const std::string what = layout.str() + " " + schedule + " sp=" + std::to_string(o.sequence_parallel) +
                           " recompute=" + std::string(recompute_name(o.recompute));
  ASSERT_EQ(actual.ops.size(), want.ops.size()) << what;
  int gemms = 0;
  for (std::size_t i = 0; i < want.ops.size(); ++i) {
    EXPECT_EQ(actual.ops[i], want.ops[i]) << what << " op " << i << ": ran " << actual.ops[i].str() << ", simulated "
                                          << want.ops[i].str();
    gemms += want.ops[i].is_gemm() ? 1 : 0;
  }
  EXPECT_GT(gemms, 0) << what;
  ASSERT_EQ(actual.collectives.size(), want.collectives.size()) << what;
  for (std::size_t i = 0; i < want.collectives.size(); ++i)
    EXPECT_EQ(actual.collectives[i], want.collectives[i]) << what << " collective " << i;
  std::sort(actual.p2p.begin(), actual.p2p.end(), by_text);
  std::sort(want.p2p.begin(), want.p2p.end(), by_text);
  EXPECT_EQ(actual.p2p, want.p2p) << what;
  if (layout.tp() > 1) {
    EXPECT_FALSE(want.collectives.empty()) << what;
  }
  if (layout.pp() > 1) {
    EXPECT_FALSE(want.p2p.empty()) << what;
  }
}

TEST(SimRecording, SerialStepRunsTheRecordedOps) {
  if (test_world().size() != 1) GTEST_SKIP() << "runs on 1 rank";
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull})
    check(MeshLayout(1, 1, 1), "1f1b", 3, {false, r});
}

TEST(SimRecording, TensorParallelStepRunsTheRecordedOpsAndCollectives) {
  if (test_world().size() != 2) GTEST_SKIP() << "runs on 2 ranks";
  check(MeshLayout(1, 1, 2), "1f1b", 2, {false, Recompute::kNone});
  check(MeshLayout(1, 1, 2), "1f1b", 2, {true, Recompute::kSelective});
  check(MeshLayout(1, 1, 2), "1f1b", 2, {true, Recompute::kFull});
}

TEST(SimRecording, PipelineStepRunsTheRecordedOpsAndTransfers) {
  if (test_world().size() != 2) GTEST_SKIP() << "runs on 2 ranks";
  check(MeshLayout(1, 2, 1), "1f1b", 4, {false, Recompute::kNone});
  check(MeshLayout(1, 2, 1), "zb-h1", 4, {false, Recompute::kNone});
  check(MeshLayout(1, 2, 1), "interleaved", 4, {false, Recompute::kNone});
}

}  // namespace
}  // namespace trident
