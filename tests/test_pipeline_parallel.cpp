// Pipeline parallelism on real MPI ranks: the first generators for p ∈ {1, 2, 4}, m ∈ {1, …, 8}
// where the schedule allows it, the newer ones for a few m each, v ∈ {1, 2} where it applies, with
// tp = 1 and tp = 2 inside each stage: the loss and every parameter gradient (gathered over TP to
// full shape) equal the serial model's (relative 1e-5, fp32). Also a hand-written schedule loaded
// from text.
//
// The world is split into replicas of pp·tp ranks for the layouts that fit: np=1 runs p=1; np=2
// runs p=2; np=4 runs p=4 and p=2×tp=2; np=8 runs p=4×tp=2.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "layers/gather_full.h"
#include "parallel/device_mesh.h"
#include "schedules/executor.h"
#include "schedules/generators.h"
#include "experiments/train/gpt_pipeline_stage.h"
#include "tests/gpt_test_util.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

GptConfig pipeline_config() {
  GptConfig c = testing_util::tiny_config();
  c.layers = 8;  // up to pp·v = 8 chunks of one block each
  return c;
}

struct Reference {
  double loss = 0;
  std::map<std::string, Tensor> grads;
};

// The serial model's step over m micro-batches of one sequence each (computed on every rank).
Reference serial_step(const GptConfig& c, int m, const Tensor& ids, const Tensor& targets) {
  GptChunk model(c, ChunkLayout::whole(c), nullptr, {});
  Reference r;
  model.zero_grads();
  for (int i = 0; i < m; ++i) {
    model.forward(i, ids.slice0(i, i + 1), targets.slice0(i, i + 1), 1.0f / static_cast<float>(m));
    r.loss += model.loss(i) / m;
    model.backward(i);
  }
  for (Parameter* p : model.parameters()) r.grads[p->name()] = p->grad.clone();
  return r;
}

struct Layout {
  int pp, tp;
};

class PipelineCase {
 public:
  PipelineCase(Communicator& replica, Layout l) : layout_(1, l.pp, l.tp), mesh_(replica, layout_) {}

  // Runs one step of `schedule` and compares with the serial reference; returns the number of
  // comparisons made on this rank (failures are EXPECTs: every rank keeps going, so no collective
  // is left waiting).
  int run(const Schedule& schedule, const GptConfig& c, TensorParallelOptions options, const Reference& ref,
          const Tensor& ids, const Tensor& targets, const std::string& what) {
    GptPipelineStage stage(c, schedule, mesh_.coord().pp, &mesh_.tp_group(), options);
    PipelineExecutor executor(schedule, &mesh_.pp_group());
    stage.set_batch(ids, targets);
    stage.zero_grads();
    const auto sync = stage.wire_grad_sync(stage.parameters(), &mesh_.tp_group(), mesh_.embedding_group(), nullptr);
    sync->start_step(schedule.micro_batches);
    const ExecutionStats stats = executor.run(stage);
    sync->finish();
    int compared = 0;
    if (stage.holds_loss()) {
      EXPECT_NEAR(stage.loss(), ref.loss, 1e-5 * ref.loss) << what;
      ++compared;
    }
    const TensorParallel& tp = stage.chunk_model(stage.chunks().front()).tp();
    for (Parameter* p : stage.parameters()) {
      const Tensor full = gather_full(*p, p->grad, tp);
      const Tensor& want = ref.grads.at(p->name());
      double err = 0, scale = 0;
      for (std::int64_t i = 0; i < want.numel(); ++i) {
        err = std::max(err, std::abs(double(full.data<float>()[i]) - want.data<float>()[i]));
        scale = std::max(scale, std::abs(double(want.data<float>()[i])));
      }
      EXPECT_LE(err, 1e-5 * scale) << what << " " << p->name();
      ++compared;
    }
    EXPECT_EQ(stats.peak_stash > 0, true) << what;
    return compared;
  }

  const MeshLayout& layout() const { return layout_; }

 private:
  MeshLayout layout_;
  DeviceMesh mesh_;
};

std::vector<Layout> layouts_for(int world) {
  switch (world) {
    case 1: return {{1, 1}};
    case 2: return {{2, 1}};
    case 4: return {{4, 1}, {2, 2}};
    case 8: return {{4, 2}};
    default: return {};
  }
}

TEST(PipelineParallel, EveryScheduleMatchesSerial) {
  const GptConfig c = pipeline_config();
  Communicator& world = test_world();
  int cases = 0;
  for (const Layout l : layouts_for(world.size())) {
    auto replica = world.split(world.rank() / (l.pp * l.tp), world.rank(), "replica");
    PipelineCase pc(*replica, l);
    for (int m = 1; m <= 8; ++m) {
      const Tensor ids = testing_util::random_tokens(m, c, 21 + m, "ids");
      const Tensor targets = testing_util::random_tokens(m, c, 21 + m, "targets");
      const Reference ref = serial_step(c, m, ids, targets);
      std::vector<Schedule> schedules = {gpipe(l.pp, m), one_f_one_b(l.pp, m), zb_h1(l.pp, m), zb_v(l.pp, m)};
      if (m % l.pp == 0) schedules.push_back(interleaved_1f1b(l.pp, 2, m));
      for (const Schedule& s : schedules) {
        // Sequence parallelism for the zero-bubble schedules with tp = 2: I and W apart under SP.
        const bool sp = l.tp > 1 && s.name.starts_with("zb");
        const std::string what = s.name + " pp=" + std::to_string(l.pp) + " tp=" + std::to_string(l.tp) +
                                 " v=" + std::to_string(s.v) + " m=" + std::to_string(m) + (sp ? " sp" : "");
        pc.run(s, c, {sp, Recompute::kNone}, ref, ids, targets, what);
        ++cases;
      }
    }
  }
  if (world.size() <= 8 && world.size() != 3) {
    EXPECT_GE(cases, 8 * 4);
  }
}

// The newer schedules, a few micro-batch counts each (every one they support is covered by the
// validator and analyzer tests; here the point is the numerics on real ranks): ZB-H2, ZB-1p, ZB-2p
// and the automatic scheduler's V-placement search (I/W split), ZB-V, Looped BFS with v = 2, and
// DualPipeV (overlapped FB actions).
TEST(PipelineParallel, NewerSchedulesMatchSerial) {
  const GptConfig c = pipeline_config();
  Communicator& world = test_world();
  int cases = 0;
  for (const Layout l : layouts_for(world.size())) {
    if (l.pp == 1) continue;
    auto replica = world.split(world.rank() / (l.pp * l.tp), world.rank(), "replica");
    PipelineCase pc(*replica, l);
    const int p = l.pp;
    AutoScheduleOptions v_search;
    v_search.pp = p;
    v_search.v = 2;
    v_search.placement = Placement::kVShape;
    v_search.micro_batches = 2 * p;
    v_search.memory_cap = 2 * p;
    v_search.costs.per_chunk.assign(static_cast<std::size_t>(2 * p), {1.0, 2.0, 1.0, 1.0});
    v_search.costs.per_chunk.back() = {1.5, 3.0, 1.5, 1.5};  // the loss chunk is heavier
    const std::vector<Schedule> schedules = {
        zb_h2(p, 1), zb_h2(p, 2 * p - 1), zb_h2(p, p + 1), zb_1p(p, 2 * p), zb_2p(p, 2 * p + 1), zb_v(p, p + 1),
        looped_bfs(p, 2, 1), looped_bfs(p, 2, p + 1), dual_pipe_v(p, 2 * p), dual_pipe_v(p, 2 * p + 1),
        auto_schedule(v_search).schedule};
    for (const Schedule& s : schedules) {
      const int m = s.micro_batches;
      const Tensor ids = testing_util::random_tokens(m, c, 41 + m, "ids");
      const Tensor targets = testing_util::random_tokens(m, c, 41 + m, "targets");
      bool split = false;
      for (const auto& list : s.stages)
        for (const Action& a : list) split = split || a.type == ActionType::kI;
      const bool sp = l.tp > 1 && split;
      const std::string what = s.name + " pp=" + std::to_string(p) + " tp=" + std::to_string(l.tp) +
                               " v=" + std::to_string(s.v) + " m=" + std::to_string(m) + (sp ? " sp" : "");
      pc.run(s, c, {sp, Recompute::kNone}, serial_step(c, m, ids, targets), ids, targets, what);
      ++cases;
    }
  }
  if (world.size() == 2 || world.size() == 4 || world.size() == 8) {
    EXPECT_GE(cases, 11);
  }
}

TEST(PipelineParallel, HandWrittenScheduleFromTextTrainsCorrectly) {
  Communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "written for pp=2 (runs on 2 ranks)";
  const Schedule s = Schedule::from_text(
      "schedule mine pp=2 v=1 micro_batches=3\n"
      "# stage 0 splits its last backward into I and W; stage 1 runs W late\n"
      "stage0: F0.0 F1.0 B0.0 F2.0 I1.0 I2.0 W2.0 W1.0\n"
      "stage1: F0.1 I0.1 F1.1 B1.1 F2.1 W0.1 B2.1\n");
  const GptConfig c = pipeline_config();
  const Tensor ids = testing_util::random_tokens(3, c, 5, "ids"), targets = testing_util::random_tokens(3, c, 5, "t");
  PipelineCase pc(world, {2, 1});
  EXPECT_GT(pc.run(s, c, {}, serial_step(c, 3, ids, targets), ids, targets, "hand-written"), 0);
}

TEST(PipelineParallel, BadMicroBatchCountIsAnErrorNotAHang) {
  Communicator& world = test_world();
  const int pp = world.size() >= 4 ? 4 : 2;
  try {
    (void)interleaved_1f1b(pp, 2, pp + 1);
    ADD_FAILURE() << "interleaved with m = pp + 1 must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a multiple of pp=" + std::to_string(pp)), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)one_f_one_b(pp, 0), Error);
  // A schedule whose micro-batch count disagrees with the batch it is given.
  const GptConfig c = pipeline_config();
  GptPipelineStage stage(c, one_f_one_b(1, 4), 0, nullptr, {});
  const Tensor three = testing_util::random_tokens(3, c, 1, "ids");
  EXPECT_THROW(stage.set_batch(three, three), Error);
}

}  // namespace
}  // namespace trident
