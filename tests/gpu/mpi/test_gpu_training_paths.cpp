// Every code path of a training step on the GPU, each against the same run on the CPU backend, so
// one device run shows which path breaks: the global-norm clip (kept active on purpose: the
// gradient norm stays above optimizer.grad_clip), the skip of a step whose loss and gradients are
// not finite, AdamW, ZeRO-1 (dp2 sharing one GPU through the MPI backend's staging), evaluation,
// checkpoint save (gathering device shards) and load (onto either device), and mixed precision's
// bf16 compute copies after a load.
//
// Tolerances, relative: 1e-4 between the GPU (f32) and the CPU backend, as test_gpu_training.cpp
// (cuBLAS and the kernels sum in other orders than OpenBLAS and the CPU loops); 1e-5 between two
// f32 GPU runs (only the embedding gradient's atomics reorder sums); 1e-3 between two bf16 GPU runs
// (the same, with bf16 activations amplifying a reordered sum by at most a few bf16 ulps, 2^-8).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/cuda_probe.h"
#include "core/ops.h"
#include "tests/training_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

#define REQUIRE_GPU_AND_RANKS(n)                                                                         \
  do {                                                                                                   \
    if (!cuda_probe().available) GTEST_SKIP() << "GPU test skipped: " << cuda_probe().reason;            \
    if (test_world().size() < (n)) GTEST_SKIP() << "needs " << (n) << " ranks, has " << test_world().size(); \
  } while (0)

// Far below the tiny model's gradient norm over these few steps (about 1 at the start), so every
// step takes the clipping branch; the test checks that it did.
constexpr double kClip = 0.05;

TrainConfig clipped(TrainConfig c) {
  c.optimizer.grad_clip = kClip;
  return c;
}

TrainConfig on_device(TrainConfig c, const char* device, const char* precision = "f32") {
  c.device = device;
  c.precision = precision;
  c.comm = "auto";
  return c;
}

// What a run reports: its steps, then the validation loss after the last one.
struct RunRecord {
  std::vector<StepRecord> steps;
  double val_loss = std::nan("");
};

using StepHook = std::function<void(Trainer&, int step)>;  // before step `step` (0-based)

// Runs `steps` steps of config `c` on the job's ranks (an empty RunRecord elsewhere): optionally loading
// `load` first, calling `before_step`, evaluating at the end and saving to `save`.
RunRecord train_run(const TrainConfig& c, int steps, const std::string& save = "", const std::string& load = "",
        const StepHook& before_step = {}) {
  RunRecord out;
  auto group = job_group(c.world_size());
  if (group) {
    Trainer t(resolve_plan(c), *group);
    if (!load.empty()) t.load_checkpoint(load);
    for (int i = 0; i < steps; ++i) {
      if (before_step) before_step(t, i);
      out.steps.push_back(t.train_step());
    }
    out.val_loss = t.evaluate();
    if (!save.empty()) t.save_checkpoint(save);
  }
  test_world().barrier();
  return out;
}

// Losses, gradient norms and skip flags of `got` against `want`, relative `tol`; both skipped steps
// carry no numbers to compare (their loss and norm are NaN).
void expect_same_run(const RunRecord& got, const RunRecord& want, double tol, const std::string& what) {
  if (got.steps.empty()) return;  // this rank was not part of the job
  ASSERT_EQ(got.steps.size(), want.steps.size()) << what;
  for (std::size_t i = 0; i < want.steps.size(); ++i) {
    const StepRecord &g = got.steps[i], &w = want.steps[i];
    const std::string at = what + " step " + std::to_string(i + 1);
    EXPECT_EQ(g.skipped, w.skipped) << at;
    if (w.skipped) continue;
    EXPECT_NEAR(g.loss, w.loss, tol * std::fabs(w.loss)) << at << " loss";
    EXPECT_NEAR(g.grad_norm, w.grad_norm, tol * w.grad_norm) << at << " grad norm";
  }
  EXPECT_NEAR(got.val_loss, want.val_loss, tol * std::fabs(want.val_loss)) << what << " validation loss";
}

// Every step of the reference was clipped (or skipped): the clipping branch really ran.
void expect_clipped(const RunRecord& r, const std::string& what) {
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    if (r.steps[i].skipped) continue;
    EXPECT_GT(r.steps[i].grad_norm, kClip) << what << " step " << i + 1 << " was not clipped: lower kClip";
  }
}

// Steps [from, end) of `r` with its validation loss: what a run resumed after step `from` reports.
RunRecord tail(const RunRecord& r, std::size_t from) {
  if (r.steps.size() < from) return {};
  return {{r.steps.begin() + static_cast<std::ptrdiff_t>(from), r.steps.end()}, r.val_loss};
}

Parameter& parameter(Trainer& t, const std::string& name) {
  for (Parameter* p : t.stage().parameters())
    if (p->name() == name) return *p;
  ADD_FAILURE() << "no parameter " << name;
  throw Error("no parameter " + name);
}

// Step `poisoned` runs with every element of the final LayerNorm's weight NaN: its loss and its
// gradient norm are NaN, so the optimizer must leave everything as it was (parameters, moments,
// its step count); the weight is restored right after, and the run continues as if the step had
// only consumed its batch. The same on both devices, so the trajectories still agree.
StepHook poison_step(int poisoned) {
  auto saved = std::make_shared<Tensor>();
  return [saved, poisoned](Trainer& t, int step) {
    Parameter& w = parameter(t, "ln_f.weight");
    if (step == poisoned) {
      *saved = Tensor::empty(w.value.shape());
      saved->copy_from(w.value);
      Tensor nan = Tensor::empty(w.value.shape());
      ops_for(Device::cpu()).fill(nan, std::nanf(""));
      w.value.copy_from(nan);
    } else if (step == poisoned + 1) {
      // The skipped step must not have written the weight: it is still all NaN.
      Tensor now = Tensor::empty(w.value.shape());
      now.copy_from(w.value);
      for (std::int64_t i = 0; i < now.numel(); ++i)
        ASSERT_TRUE(std::isnan(now.data<float>()[i])) << "the skipped step updated ln_f.weight[" << i << "]";
      w.value.copy_from(*saved);
    }
  };
}

TEST(GpuTrainingPaths, ClipAndNonFiniteSkipMatchCpu) {
  REQUIRE_GPU_AND_RANKS(1);
  const TrainConfig c = clipped(base_config(1, 1, 1, 2, 2));
  constexpr int kSteps = 5, kPoisoned = 2;
  const RunRecord cpu = train_run(on_device(c, "cpu"), kSteps, "", "", poison_step(kPoisoned));
  if (!cpu.steps.empty()) {
    ASSERT_TRUE(cpu.steps[kPoisoned].skipped) << "the CPU run did not skip the poisoned step";
    expect_clipped(cpu, "CPU reference");
  }
  const RunRecord gpu = train_run(on_device(c, "cuda"), kSteps, "", "", poison_step(kPoisoned));
  expect_same_run(gpu, cpu, 1e-4, "serial f32, clipped, one step skipped, on the GPU");
}

TEST(GpuTrainingPaths, ZeroOneCheckpointAndEvaluationMatchCpu) {
  REQUIRE_GPU_AND_RANKS(2);
  TrainConfig c = clipped(base_config(2, 1, 1, 2, 2));
  c.layout.zero = 1;
  c.layout.bucket_mb = 1e-3;  // many ~1 KiB buckets: reductions overlap the backward
  const std::string dir = (fs::path(data_dir()) / "gpu_zero1_ckpt").string();
  const TrainConfig cpu = on_device(c, "cpu"), gpu = on_device(c, "cuda");

  const RunRecord cpu_whole = train_run(cpu, 6);
  if (!cpu_whole.steps.empty()) expect_clipped(cpu_whole, "CPU reference");

  // GPU: 3 steps, save (ZeRO-1 gathers the moments' device shards), 3 more; then the same 3 from the
  // checkpoint on each device.
  train_run(gpu, 3, dir);
  const RunRecord gpu_whole = train_run(gpu, 6);
  expect_same_run(gpu_whole, cpu_whole, 1e-4, "dp2 ZeRO-1 f32 on the GPU");
  const RunRecord gpu_from_gpu = train_run(gpu, 3, "", dir);
  expect_same_run(gpu_from_gpu, tail(gpu_whole, 3), 1e-5, "GPU checkpoint resumed on the GPU");
  const RunRecord cpu_from_gpu = train_run(cpu, 3, "", dir);
  expect_same_run(cpu_from_gpu, tail(cpu_whole, 3), 1e-4, "GPU checkpoint resumed on the CPU");
}

TEST(GpuTrainingPaths, MixedPrecisionResumeFollowsUninterruptedRun) {
  REQUIRE_GPU_AND_RANKS(1);
  const TrainConfig c = on_device(base_config(1, 1, 1, 2, 2), "cuda", "bf16");
  const std::string dir = (fs::path(data_dir()) / "gpu_bf16_ckpt").string();
  const RunRecord whole = train_run(c, 6);
  train_run(c, 3, dir);
  const RunRecord resumed = train_run(c, 3, "", dir);
  if (whole.steps.empty()) return;
  EXPECT_LT(whole.steps.back().loss, whole.steps.front().loss) << "bf16 training must lower the loss";
  // A load that left the bf16 compute copies at their initial values would move the loss by about
  // the first steps' whole change (1e-1 relative here), far outside 1e-3.
  expect_same_run(resumed, tail(whole, 3), 1e-3, "bf16 checkpoint resumed on the GPU");
}

}  // namespace
}  // namespace trident
