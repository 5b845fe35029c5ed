// init_from on real ranks: a serially trained checkpoint, exported as a Hugging Face folder, loads
// into pp2 × tp2 and saves back bit-exactly (export -> import -> checkpoint -> export is the
// identity under another layout), and training from the folder follows the serial run from it.
#include <gtest/gtest.h>

#include <cstring>

#include "experiments/train/hf_folder.h"
#include "experiments/train/model_weights.h"
#include "tests/training_test_util.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using namespace testing_util;

using Tensors = std::vector<std::pair<std::string, Tensor>>;

// `steps` steps of `c` started from the weights in `folder` (fresh optimizer): [loss, norm, …].
std::vector<double> from_folder(TrainConfig c, const std::string& folder, int steps, const std::string& save = "") {
  c.init_from = folder;
  std::vector<double> out;
  auto group = job_group(c.world_size());
  if (group) {
    Trainer t(resolve_plan(c), *group);
    t.load_weights(folder);
    for (int i = 0; i < steps; ++i) {
      const StepRecord r = t.train_step();
      out.insert(out.end(), {r.loss, r.grad_norm});
    }
    if (!save.empty()) t.save_checkpoint(save);
  }
  test_world().barrier();
  return out;
}

void expect_same_bits(const Tensors& got, const Tensors& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << what;
    EXPECT_EQ(got[i].second.shape(), want[i].second.shape()) << what << " " << want[i].first;
    EXPECT_EQ(std::memcmp(got[i].second.raw(), want[i].second.raw(), want[i].second.nbytes()), 0)
        << what << ": " << want[i].first << " is not bit-identical";
  }
}

TEST(InitFrom, ExportImportRoundTripIsBitExactUnderAnotherLayout) {
  if (test_world().size() < 4) GTEST_SKIP() << "needs 4 ranks (pp2 x tp2)";
  const TrainConfig c = base_config(1, 2, 2, 2, 2);  // vocab 257: padded to 258 under tp2
  const std::string dir = (fs::path(data_dir()) / "init_from").string();
  // Trained weights (not just initial values), from a serial run's checkpoint, as a folder.
  serial(c, 3, dir + "/serial_ckpt");
  if (test_world().rank() == 0)
    write_hf_gpt2_folder(dir + "/hf", c.model, ModelWeights(dir + "/serial_ckpt").read_all(c.model), &byte_tokenizer());
  test_world().barrier();

  // Into pp2 × tp2, straight back out: no step taken.
  from_folder(c, dir + "/hf", 0, dir + "/pp2tp2_ckpt");
  const Tensors want = ModelWeights(dir + "/hf").read_all(c.model);
  expect_same_bits(ModelWeights(dir + "/pp2tp2_ckpt").read_all(c.model), want, "folder -> pp2 x tp2 checkpoint");
  expect_same_bits(ModelWeights(dir + "/serial_ckpt").read_all(c.model), want, "serial checkpoint -> folder");

  // Training from the folder: pp2 × tp2 follows the serial run from the same folder.
  TrainConfig one = c;
  one.layout.dp = one.layout.pp = one.layout.tp = 1;
  one.layout.micro_batches = c.layout.micro_batches;
  std::vector<double> ref = from_folder(one, dir + "/hf", 3);
  Tensor t = Tensor::zeros({6}, DType::kF64);
  for (std::size_t i = 0; i < ref.size(); ++i) t.data<double>()[i] = ref[i];
  test_world().broadcast(t, 0);
  ref.assign(t.data<double>(), t.data<double>() + 6);
  expect_close_trajectory(from_folder(c, dir + "/hf", 3), ref, "init_from pp2 x tp2 vs serial");
}

}  // namespace
}  // namespace trident
