// Helpers shared by the end-to-end training tests (CPU and GPU): a byte-level corpus written once
// per process group, a small GPT config, and loss/grad-norm trajectories of a layout or of the
// serial run of the same global batch.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/data/token_file.h"
#include "experiments/train/trainer.h"
#include "tests/mpi_test_env.h"

namespace trident::testing_util {

namespace fs = std::filesystem;

// Byte-level text with structure to learn, written once per process group (rank 0 of the world).
inline std::string data_dir() {
  static const std::string dir = [] {
    Communicator& world = test_world();
    Tensor pid = Tensor::empty({1}, DType::kI32);
    pid.data<std::int32_t>()[0] = getpid();
    world.broadcast(pid, 0);
    const std::string d = (fs::temp_directory_path() / ("trident_training_" + std::to_string(pid.data<std::int32_t>()[0]))).string();
    if (world.rank() == 0) {
      fs::create_directories(d);
      for (const char* split : {"train", "val"}) {
        std::vector<std::uint16_t> tokens;
        for (int i = 0; tokens.size() < 40000; ++i) {
          const std::string line = std::string(split) + " line " + std::to_string(i * 7 % 113) +
                                   ": the quick brown fox jumps over the lazy dog.\n";
          for (unsigned char ch : line) tokens.push_back(ch);
          tokens.push_back(256);  // end of text
        }
        write_token_file((fs::path(d) / (std::string(split) + ".bin")).string(), tokens);
      }
    }
    world.barrier();
    return d;
  }();
  return dir;
}

// Removes the data and checkpoints once every test has run.
class RemoveDataDir : public testing::Environment {
 public:
  void TearDown() override {
    // data_dir() is collective the first time (every test may have skipped): all ranks call it.
    const std::string dir = data_dir();
    test_world().barrier();
    if (test_world().rank() == 0) fs::remove_all(dir);
  }
};
[[maybe_unused]] inline testing::Environment* const kRemoveDataDir = testing::AddGlobalTestEnvironment(new RemoveDataDir);

inline TrainConfig base_config(int dp, int pp, int tp, int micro_batches, int micro_batch_size) {
  TrainConfig c;
  c.model.layers = 4;
  c.model.hidden = 32;
  c.model.heads = 4;
  c.model.seq_len = 16;
  c.model.vocab = 257;
  c.model.seed = 3;
  c.layout.dp = dp;
  c.layout.pp = pp;
  c.layout.tp = tp;
  c.layout.micro_batches = micro_batches;
  c.layout.micro_batch_size = micro_batch_size;
  c.layout.schedule = "1f1b";
  c.optimizer.lr = 3e-3;
  c.optimizer.warmup_steps = 3;
  c.steps = 20;
  c.eval_interval = 0;
  c.peak_flops = 1e9;  // no probe in tests
  c.data.train = (fs::path(data_dir()) / "train.bin").string();
  c.data.val = (fs::path(data_dir()) / "val.bin").string();
  return c;
}

// The first `n` world ranks form a job of their own; the others get nullptr.
inline std::unique_ptr<Communicator> job_group(int n) {
  Communicator& world = test_world();
  return world.split(world.rank() < n ? 0 : -1, world.rank(), "job");
}

// Loss and gradient norm of each of `steps` steps, as [loss1, norm1, loss2, norm2, …] (on every rank
// of the job; empty on ranks outside it). The norm catches what the loss cannot: AdamW's update
// barely changes if every gradient is scaled, so a wrong DP average would not move the loss.
inline std::vector<double> losses(const TrainConfig& c, int steps, const std::string& save = "", const std::string& load = "") {
  std::vector<double> out;
  auto group = job_group(c.world_size());
  if (group) {
    Trainer t(resolve_plan(c), *group);
    if (!load.empty()) t.load_checkpoint(load);
    for (int i = 0; i < steps; ++i) {
      const StepRecord r = t.train_step();
      out.push_back(r.loss);
      out.push_back(r.grad_norm);
    }
    if (!save.empty()) t.save_checkpoint(save);
  }
  test_world().barrier();
  return out;
}

// Each loss and grad norm within rel_tol of the reference (1e-5: f32 on the same op table).
inline void expect_close_trajectory(const std::vector<double>& got, const std::vector<double>& want,
                                    const std::string& what, double rel_tol = 1e-5) {
  if (got.empty()) return;  // this rank was not part of the job
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel_tol * want[i]) << what << " step " << i / 2 + 1 << (i % 2 ? " grad norm" : " loss");
}

// The serial run of the same global batch: one replica doing every micro-batch.
inline std::vector<double> serial(const TrainConfig& c, int steps, const std::string& save = "") {
  TrainConfig s = c;
  s.layout.micro_batches = c.layout.micro_batches * c.layout.dp;
  s.layout.dp = s.layout.pp = s.layout.tp = 1;
  s.layout.schedule = "1f1b";
  s.layout.zero = 0;
  s.layout.sequence_parallel = false;
  std::vector<double> l = losses(s, steps, save);
  // Computed on world rank 0; every rank compares against it.
  Tensor t = Tensor::zeros({2 * steps});
  for (int i = 0; i < static_cast<int>(l.size()); ++i) t.data<float>()[i] = static_cast<float>(l[static_cast<std::size_t>(i)]);
  test_world().broadcast(t, 0);
  if (!l.empty()) return l;
  return std::vector<double>(t.data<float>(), t.data<float>() + 2 * steps);
}

}  // namespace trident::testing_util
