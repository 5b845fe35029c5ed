// ZeRO stages end to end on real MPI ranks (np 2, 4, 8 choose the layouts): every stage trains the
// same model as plain data parallelism — losses, gradient norms, and the parameters and Adam moments
// of a checkpoint after 5 steps, to 1e-6 relative — under plain DP, TP, PP (1F1B, interleaved with
// full recompute, zero-bubble) and 3D with sequence parallelism; each rank's model state is what the
// README's formula says; checkpoints cross stages and layouts exactly.
//
// The ZeroFailure tests are disabled here and run by CTest on their own (test_zero_*.np2): a rank
// that dies, or stops, in a ZeRO-3 gather must end the job with a message naming the collective.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/safetensors.h"
#include "experiments/sim/memory_model.h"
#include "tests/training_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

constexpr int kSteps = 5;

TrainConfig layout(int dp, int pp, int tp, int zero) {
  TrainConfig c = base_config(dp, pp, tp, 2, 2);
  c.layout.zero = zero;
  c.layout.bucket_mb = 0.02;  // ~20 KiB buckets: several per chunk, so gathers prefetch and overlap
  return c;
}

std::string ckpt_dir(const std::string& name) { return (fs::path(data_dir()) / name).string(); }

// Every tensor of checkpoint `got` against `want`: bit for bit (rel = 0), or within `rel` relative in
// the L2 norm of the tensor (||got - want|| <= rel·||want||: single elements near 0 carry rounding
// noise of the reduction order that a per-element ratio would blow up). One slice is exempt from the
// relative test: the attention's key bias (the middle third of c_attn.bias). Its gradient is zero in
// exact arithmetic — softmax is invariant to adding a constant to a query's scores — so in f32 it is
// rounding noise, which Adam normalises into lr-sized steps: any change of summation order (ZeRO's
// reduce-scatters, or merely another bucket size) moves it arbitrarily. Everything else is held to
// `rel`.
void expect_same_checkpoint(const std::string& got, const std::string& want, int pp, double rel, const std::string& what) {
  if (test_world().rank() != 0) return;
  double worst = 0.0;
  std::string worst_name;
  for (int p = 0; p < pp; ++p)
    for (const char* kind : {"model", "optimizer"}) {
      const std::string file = std::string(kind) + "-pp" + std::to_string(p) + ".safetensors";
      const SafetensorsFile a((fs::path(got) / file).string()), b((fs::path(want) / file).string());
      ASSERT_EQ(a.names(), b.names()) << what << " " << file;
      for (const std::string& name : b.names()) {
        const Tensor x = a.read(name), y = b.read(name);
        ASSERT_EQ(x.shape(), y.shape()) << what << " " << name;
        const bool qkv_bias = name.find("attn.c_attn.bias") != std::string::npos;
        const std::int64_t h = y.numel() / 3;
        double diff = 0.0, norm = 0.0;
        std::int64_t differ = 0;
        for (std::int64_t i = 0; i < y.numel(); ++i) {
          const double g = x.data<float>()[i], w = y.data<float>()[i];
          differ += g != w ? 1 : 0;
          if (qkv_bias && i >= h && i < 2 * h) continue;  // the key bias: see above
          diff += (g - w) * (g - w), norm += w * w;
        }
        if (rel == 0) {
          EXPECT_EQ(differ, 0) << what << ": " << name << " differs in " << differ << " elements";
        }
        const double err = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
        if (err > worst) worst = err, worst_name = name;
      }
    }
  EXPECT_LE(worst, rel) << what << ": " << worst_name;
  std::printf("%s: parameters and moments within %.2e relative (worst: %s)\n", what.c_str(), worst, worst_name.c_str());
}

// The layouts this world size runs: {dp, pp, tp}.
std::vector<std::vector<int>> layouts() {
  switch (test_world().size()) {
    case 2: return {{2, 1, 1}};
    case 4: return {{2, 1, 2}, {2, 2, 1}};
    case 8: return {{2, 2, 2}};
    default: return {};
  }
}

TEST(Zero, EveryStageTrainsLikePlainDataParallel) {
  if (layouts().empty()) GTEST_SKIP() << "layouts for 2, 4 and 8 ranks";
  for (const std::vector<int>& l : layouts()) {
    const std::string name = "dp" + std::to_string(l[0]) + " pp" + std::to_string(l[1]) + " tp" + std::to_string(l[2]);
    const std::vector<double> plain = losses(layout(l[0], l[1], l[2], 0), kSteps, ckpt_dir("zero0"));
    for (int zero = 1; zero <= 3; ++zero) {
      const std::string what = name + " ZeRO-" + std::to_string(zero);
      expect_close_trajectory(losses(layout(l[0], l[1], l[2], zero), kSteps, ckpt_dir("zero")), plain, what, 1e-6);
      expect_same_checkpoint(ckpt_dir("zero"), ckpt_dir("zero0"), l[1], 1e-6, what);
      test_world().barrier();
    }
  }
}

// Schedules whose actions split backward (zero bubble), interleave chunks, or recompute the forward
// inside backward; and sequence parallelism, whose TP-partial gradients ZeRO-2/3 finish on shards.
TEST(Zero, SchedulesRecomputeAndSequenceParallelism) {
  const int world = test_world().size();
  if (world != 4 && world != 8) GTEST_SKIP() << "pipelines with dp2 need 4 or 8 ranks";
  std::vector<std::pair<TrainConfig, std::string>> cases;
  if (world == 4) {
    TrainConfig interleaved = layout(2, 2, 1, 0);
    interleaved.layout.schedule = "interleaved";
    interleaved.layout.v = 2;
    interleaved.layout.recompute = "full";
    cases.emplace_back(interleaved, "interleaved v2, full recompute");
    TrainConfig zb = layout(2, 2, 1, 0);
    zb.layout.schedule = "zb-h1";
    cases.emplace_back(zb, "zb-h1");
  } else {
    TrainConfig sp = layout(2, 2, 2, 0);
    sp.layout.sequence_parallel = true;
    sp.layout.recompute = "selective";
    cases.emplace_back(sp, "dp2 pp2 tp2, sequence parallel, selective recompute");
  }
  for (auto& [config, what] : cases) {
    const std::vector<double> plain = losses(config, kSteps, ckpt_dir("sched0"));
    for (int zero : {2, 3}) {
      TrainConfig z = config;
      z.layout.zero = zero;
      const std::string label = what + " ZeRO-" + std::to_string(zero);
      expect_close_trajectory(losses(z, kSteps, ckpt_dir("sched")), plain, label, 1e-6);
      expect_same_checkpoint(ckpt_dir("sched"), ckpt_dir("sched0"), config.layout.pp, 1e-6, label);
      test_world().barrier();
    }
  }
}

// Per-rank model state (weights + gradients + Adam moments, f32) against 16Ψ, 8Ψ + 8Ψ/N, 4Ψ + 12Ψ/N
// and 16Ψ/N, Ψ being the parameters the rank holds, as the step's peak-memory breakdown reports it
// (the allocator's labels at the moment of the peak); and against the memory model
// (experiments/sim/memory_model.h) that the simulator reports and the trainer's pre-check trusts.
TEST(Zero, ModelStateFollowsTheFormula) {
  const int n = test_world().size();
  for (int zero = 0; zero <= 3; ++zero) {
    TrainConfig c = base_config(n, 1, 1, 1, 2);
    c.layout.zero = zero;
    const TrainPlan plan = resolve_plan(c);
    const MemoryBreakdown predicted = estimate_memory(plan, DeviceType::kCPU).stages.at(0);
    Trainer t(plan, test_world());
    const StepRecord r = t.train_step();
    double psi = 0;
    for (Parameter* p : t.stage().parameters()) psi += static_cast<double>(p->spec().local_shape().numel());
    const int z = n > 1 ? zero : 0;
    const double expected[] = {16 * psi, 8 * psi + 8 * psi / n, 4 * psi + 12 * psi / n, 16 * psi / n};
    const MemoryAtPeak& m = r.peak_mem_breakdown;
    const double measured = static_cast<double>(m.weights + m.gradients + m.optimizer_state);
    EXPECT_NEAR(measured, expected[z], 0.05 * expected[z]) << "ZeRO-" << zero << " on " << n << " ranks";
    EXPECT_NEAR(static_cast<double>(m.weights), 4 * psi / (z == 3 ? n : 1), 0.05 * 4 * psi / (z == 3 ? n : 1));
    EXPECT_NEAR(static_cast<double>(m.gradients), 4 * psi / (z >= 2 ? n : 1), 0.05 * 4 * psi / (z >= 2 ? n : 1));
    EXPECT_NEAR(static_cast<double>(m.optimizer_state), 8 * psi / (z >= 1 ? n : 1), 0.05 * 8 * psi / (z >= 1 ? n : 1));
    EXPECT_EQ(m.weights, predicted.weights) << "ZeRO-" << zero << ": the memory model's weights";
    EXPECT_EQ(m.gradients, predicted.gradients) << "ZeRO-" << zero << ": the memory model's gradients";
    EXPECT_EQ(m.optimizer_state, predicted.optimizer_state) << "ZeRO-" << zero << ": the memory model's optimizer state";
    // Transient buffers at the peak are at most what the model budgets for them.
    EXPECT_LE(m.comm_buffers, predicted.communication) << "ZeRO-" << zero;
    EXPECT_GT(m.activations, 0);
    EXPECT_EQ(m.weights + m.gradients + m.optimizer_state + m.comm_buffers + m.activations, r.peak_mem_max);
    if (test_world().rank() == 0)
      std::printf("ZeRO-%d on %d ranks: model state %.0f B, formula %.0f B (%+.2f %%), memory model %lld B; comm buffers "
                  "%lld B (model: at most %lld B); peak %lld B\n",
                  zero, n, measured, expected[z], 100.0 * (measured / expected[z] - 1.0),
                  static_cast<long long>(predicted.weights + predicted.gradients + predicted.optimizer_state),
                  static_cast<long long>(m.comm_buffers), static_cast<long long>(predicted.communication),
                  static_cast<long long>(r.peak_mem_max));
  }
}

// A checkpoint written under ZeRO-3 on dp2 x pp2, read under ZeRO-1 on dp2 x tp2 and written again,
// read under ZeRO-2 on dp4 and written again, holds the same bytes; and training on from it under a
// third stage follows the uninterrupted run.
TEST(Zero, CheckpointsCrossStagesAndLayoutsExactly) {
  if (test_world().size() != 4) GTEST_SKIP() << "the layout chain runs on 4 ranks";
  TrainConfig a = layout(2, 2, 1, 3), b = layout(2, 1, 2, 1), c = layout(4, 1, 1, 2), d = layout(2, 2, 1, 0);
  c.layout.micro_batches = 1;  // the same global batch: dp·m·b = 8 sequences
  const std::vector<double> whole = losses(a, kSteps);
  const std::vector<double> first = losses(a, 3, ckpt_dir("cross_a"));
  losses(b, 0, ckpt_dir("cross_b"), ckpt_dir("cross_a"));
  losses(c, 0, ckpt_dir("cross_c"), ckpt_dir("cross_b"));
  // Layouts store one file per stage: compare where a and c agree on the split, the whole model.
  losses(d, 0, ckpt_dir("cross_d"), ckpt_dir("cross_c"));
  expect_same_checkpoint(ckpt_dir("cross_d"), ckpt_dir("cross_a"), 2, 0.0, "ZeRO-3 -> 1 -> 2 -> 0 across layouts");
  std::vector<double> resumed = first;
  const std::vector<double> rest = losses(d, kSteps - 3, "", ckpt_dir("cross_c"));
  resumed.insert(resumed.end(), rest.begin(), rest.end());
  expect_close_trajectory(resumed, whole, "resumed under ZeRO-0 after three stage changes", 1e-6);
}

// ---- failures (run by CTest entries of their own) -----------------------------------------------

// Rank 1 dies while rank 0 gathers a bucket's parameters: the launcher ends the job, and rank 0's
// last words name the collective it was in.
TEST(ZeroFailure, DISABLED_RankDiesDuringAGather) {
  ASSERT_EQ(test_world().size(), 2);
  std::unique_ptr<Communicator> group = test_world().split(0, test_world().rank(), "zero-death");
  Tensor value = Tensor::zeros({4096}), grad = Tensor::zeros({4096});
  DataParallelOptions o;
  o.zero = 3;
  DataParallel dp({{&value, &grad, 0, false}}, group.get(), o);
  test_world().barrier();
  if (test_world().rank() == 1) std::_Exit(3);  // dies instead of joining the gather
  dp.before_use(ParamUse::kForward, {0});
  std::this_thread::sleep_for(std::chrono::seconds(60));
  ADD_FAILURE() << "the gather completed without rank 1";
}

// Rank 1 stops (alive, never joining): rank 0's watchdog ends the job after the group's timeout.
TEST(ZeroFailure, DISABLED_StuckRankTimesOutAGather) {
  ASSERT_EQ(test_world().size(), 2);
  std::unique_ptr<Communicator> group = test_world().split(0, test_world().rank(), "zero-stuck");
  group->set_timeout(std::chrono::seconds(2));
  Tensor value = Tensor::zeros({4096}), grad = Tensor::zeros({4096});
  DataParallelOptions o;
  o.zero = 3;
  DataParallel dp({{&value, &grad, 0, false}}, group.get(), o);
  if (test_world().rank() == 0) dp.before_use(ParamUse::kForward, {0});
  std::this_thread::sleep_for(std::chrono::seconds(60));
  ADD_FAILURE() << "the watchdog did not end the job";
}

}  // namespace
}  // namespace trident
