// 3D training end to end on real MPI ranks: loss trajectories of dp × pp × tp runs equal the
// serial run's step by step (relative 1e-5, fp32), ZeRO-1 equals plain DP, overlapped bucketed
// gradient reduction equals one unbucketed reduction at the end, a resumed run equals the
// uninterrupted one bit for bit, and a checkpoint saved under one layout continues the same
// trajectory under others.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/training_test_util.h"

namespace trident {
namespace {

using namespace testing_util;

TEST(Training, LossFallsAndThreeDEqualsSerial) {
  const int world = test_world().size();
  if (world < 8) GTEST_SKIP() << "dp2 x pp2 x tp2 needs 8 ranks";
  TrainConfig c = base_config(2, 2, 2, 4, 2);
  const std::vector<double> want = serial(c, 20);
  EXPECT_LT(want[want.size() - 2], want.front() - 1.0) << "the serial loss must visibly fall";
  expect_close_trajectory(losses(c, 20), want, "dp2 pp2 tp2 1f1b");
  c.layout.schedule = "interleaved";
  c.layout.v = 2;
  expect_close_trajectory(losses(c, 20), want, "dp2 pp2 tp2 interleaved v2");
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
  expect_close_trajectory(losses(one, 8), plain, "one unbucketed reduction at the end");
  TrainConfig z = c;
  z.layout.zero = 1;
  expect_close_trajectory(losses(z, 8), plain, "ZeRO-1");
  const std::vector<double> one_rank = serial(c, 8);
  expect_close_trajectory(plain, one_rank, "dp2 against the serial run");
}

TEST(Training, ResumeIsBitIdentical) {
  const int world = test_world().size();
  const int dp = world >= 4 ? 2 : 1, pp = world >= 2 ? 2 : 1;
  TrainConfig c = base_config(dp, pp, 1, 2, 2);
  c.layout.zero = dp > 1 ? 1 : 0;
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
  expect_close_trajectory(got, want, "(1,2,4) -> (2,2,2) -> (4,1,2)");
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
    Trainer t(resolve_plan(c), *group);
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
