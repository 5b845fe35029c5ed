// 3D training end to end on real MPI ranks: loss trajectories of dp × pp × tp runs equal the
// serial run's step by step (relative 1e-5, fp32), ZeRO-1 equals plain DP, overlapped bucketed
// gradient reduction equals one unbucketed reduction at the end, a resumed run equals the
// uninterrupted one bit for bit, and a checkpoint saved under one layout continues the same
// trajectory under others.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/data/token_file.h"
#include "experiments/trainer.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

namespace fs = std::filesystem;

// Byte-level text with structure to learn, written once per process group (rank 0 of the world).
std::string data_dir() {
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
    test_world().barrier();
    if (test_world().rank() == 0) fs::remove_all(data_dir());
  }
};
[[maybe_unused]] testing::Environment* const kRemoveDataDir = testing::AddGlobalTestEnvironment(new RemoveDataDir);

TrainConfig base_config(int dp, int pp, int tp, int micro_batches, int micro_batch_size) {
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
std::unique_ptr<Communicator> job_group(int n) {
  Communicator& world = test_world();
  return world.split(world.rank() < n ? 0 : -1, world.rank(), "job");
}

// Loss and gradient norm of each of `steps` steps, as [loss1, norm1, loss2, norm2, …] (on every rank
// of the job; empty on ranks outside it). The norm catches what the loss cannot: AdamW's update
// barely changes if every gradient is scaled, so a wrong DP average would not move the loss.
std::vector<double> losses(const TrainConfig& c, int steps, const std::string& save = "", const std::string& load = "") {
  std::vector<double> out;
  auto group = job_group(c.world_size());
  if (group) {
    Trainer t(c, *group, c.data.train, c.data.val);
    if (!load.empty()) t.load_checkpoint(load);
    for (int i = 0; i < steps; ++i) {
      const nlohmann::json r = t.train_step();
      out.push_back(r["loss"].get<double>());
      out.push_back(r["grad_norm"].get<double>());
    }
    if (!save.empty()) t.save_checkpoint(save);
  }
  test_world().barrier();
  return out;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  if (got.empty()) return;  // this rank was not part of the job
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * want[i]) << what << " step " << i / 2 + 1 << (i % 2 ? " grad norm" : " loss");
}

// The serial run of the same global batch: one replica doing every micro-batch.
std::vector<double> serial(const TrainConfig& c, int steps, const std::string& save = "") {
  TrainConfig s = c;
  s.layout.micro_batches = c.layout.micro_batches * c.layout.dp;
  s.layout.dp = s.layout.pp = s.layout.tp = 1;
  s.layout.schedule = "1f1b";
  s.layout.zero1 = false;
  s.layout.sequence_parallel = false;
  std::vector<double> l = losses(s, steps, save);
  // Computed on world rank 0; every rank compares against it.
  Tensor t = Tensor::zeros({2 * steps});
  for (int i = 0; i < static_cast<int>(l.size()); ++i) t.data<float>()[i] = static_cast<float>(l[static_cast<std::size_t>(i)]);
  test_world().broadcast(t, 0);
  if (!l.empty()) return l;
  return std::vector<double>(t.data<float>(), t.data<float>() + 2 * steps);
}

TEST(Training, LossFallsAndThreeDEqualsSerial) {
  const int world = test_world().size();
  if (world < 8) GTEST_SKIP() << "dp2 x pp2 x tp2 needs 8 ranks";
  TrainConfig c = base_config(2, 2, 2, 4, 2);
  const std::vector<double> want = serial(c, 20);
  EXPECT_LT(want[want.size() - 2], want.front() - 1.0) << "the serial loss must visibly fall";
  expect_close(losses(c, 20), want, "dp2 pp2 tp2 1f1b");
  c.layout.schedule = "interleaved";
  c.layout.v = 2;
  expect_close(losses(c, 20), want, "dp2 pp2 tp2 interleaved v2");
}

TEST(Training, ZeroOneAndBucketingEqualPlainDataParallel) {
  const int world = test_world().size();
  if (world < 2) GTEST_SKIP() << "data parallelism needs 2 ranks";
  TrainConfig c = base_config(2, 1, 1, 2, 2);
  c.layout.bucket_mb = 1e-3;  // ~1 KiB buckets: many, launched as the backward goes
  const std::vector<double> plain = losses(c, 8);
  TrainConfig one = c;
  one.layout.bucket_mb = 1024;  // a single bucket
  one.layout.overlap_grad_reduce = false;  // reduced once, at the end
  expect_close(losses(one, 8), plain, "one unbucketed reduction at the end");
  TrainConfig z = c;
  z.layout.zero1 = true;
  expect_close(losses(z, 8), plain, "ZeRO-1");
  const std::vector<double> one_rank = serial(c, 8);
  expect_close(plain, one_rank, "dp2 against the serial run");
}

TEST(Training, ResumeIsBitIdentical) {
  const int world = test_world().size();
  const int dp = world >= 4 ? 2 : 1, pp = world >= 2 ? 2 : 1;
  TrainConfig c = base_config(dp, pp, 1, 2, 2);
  c.layout.zero1 = dp > 1;
  const std::string dir = (fs::path(data_dir()) / "resume_ckpt").string();
  const std::vector<double> whole = losses(c, 10);
  std::vector<double> first = losses(c, 5, dir);
  const std::vector<double> rest = losses(c, 5, "", dir);
  if (test_world().rank() >= c.world_size()) return;
  first.insert(first.end(), rest.begin(), rest.end());
  ASSERT_EQ(first.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(first[i], whole[i]) << "entry " << i << " (step " << i / 2 + 1 << ")";
}

TEST(Training, CheckpointsReshardAcrossLayouts) {
  const int world = test_world().size();
  if (world < 8) GTEST_SKIP() << "the (1,2,4) -> (2,2,2) -> (4,1,2) chain needs 8 ranks";
  const std::string a = (fs::path(data_dir()) / "layout_a").string(), b = (fs::path(data_dir()) / "layout_b").string();
  // Global batch 8 sequences in every layout: dp·micro_batches·micro_batch_size.
  const TrainConfig c124 = base_config(1, 2, 4, 4, 2), c222 = base_config(2, 2, 2, 2, 2), c412 = base_config(4, 1, 2, 1, 2);
  const std::vector<double> want = serial(c124, 12);
  std::vector<double> got = losses(c124, 4, a);
  const std::vector<double> mid = losses(c222, 4, b, a);
  const std::vector<double> end = losses(c412, 4, "", b);
  got.insert(got.end(), mid.begin(), mid.end());
  got.insert(got.end(), end.begin(), end.end());
  expect_close(got, want, "(1,2,4) -> (2,2,2) -> (4,1,2)");
}

TEST(Training, CorruptCheckpointIsAClearError) {
  const std::string dir = (fs::path(data_dir()) / "corrupt_ckpt").string();
  TrainConfig c = base_config(1, 1, 1, 1, 2);
  losses(c, 1, dir);
  if (test_world().rank() == 0) {
    std::FILE* f = std::fopen((fs::path(dir) / "model-pp0.safetensors").c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, -3, SEEK_END);
    std::fputc('x', f);
    std::fclose(f);
  }
  test_world().barrier();
  auto group = job_group(1);
  if (group) {
    Trainer t(c, *group, c.data.train, c.data.val);
    try {
      t.load_checkpoint(dir);
      ADD_FAILURE() << "a corrupted checkpoint must be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("fails its CRC-32 check"), std::string::npos) << e.what();
    }
  }
  test_world().barrier();
}

}  // namespace
}  // namespace trident
