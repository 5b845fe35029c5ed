// Generation and weight import on real ranks: a model exported once (serially) loads bit-exactly
// into pp2 × tp2 and exports back to the same bytes; greedy generation gives the same tokens
// serially, under tp2, pp2 and pp2 × tp2; bad prompts are refused the same way on every rank.
// Run with 4 ranks (smaller worlds skip the layouts that do not fit).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "experiments/train/generator.h"
#include "experiments/train/hf_folder.h"
#include "layers/gather_full.h"
#include "tests/gpt_test_util.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

namespace fs = std::filesystem;

GptConfig model() {
  GptConfig c = testing_util::tiny_config();  // vocab 23: padded under tp2
  c.layers = 4;
  c.seq_len = 24;
  return c;
}

// The first `n` world ranks as a group of their own (nullptr on the others).
std::unique_ptr<Communicator> first_ranks(int n) {
  Communicator& world = test_world();
  return world.split(world.rank() < n ? 0 : -1, world.rank(), "job");
}

// The model's initial weights as a Hugging Face folder, written once by world rank 0.
const std::string& folder() {
  static const std::string dir = [] {
    Communicator& world = test_world();
    Tensor pid = Tensor::empty({1}, DType::kI32);
    pid.data<std::int32_t>()[0] = getpid();
    world.broadcast(pid, 0);
    const std::string d = (fs::temp_directory_path() / ("trident_generate_" + std::to_string(pid.data<std::int32_t>()[0]))).string();
    if (world.rank() == 0) {
      const GptConfig c = model();
      GptChunk whole(c, ChunkLayout::whole(c), nullptr, {});
      std::vector<std::pair<std::string, Tensor>> t;
      for (Parameter* p : whole.parameters()) t.emplace_back(p->name(), p->value);
      fs::remove_all(d);
      write_hf_gpt2_folder(d, c, t, nullptr);
    }
    world.barrier();
    return d;
  }();
  return dir;
}

class RemoveFolder : public testing::Environment {
 public:
  void TearDown() override {
    const std::string d = folder();  // collective the first time
    test_world().barrier();
    if (test_world().rank() == 0) fs::remove_all(d);
  }
};
[[maybe_unused]] testing::Environment* const kRemoveFolder = testing::AddGlobalTestEnvironment(new RemoveFolder);

// Greedy continuation of a fixed prompt, two sequences, under pp × tp (empty outside the job).
std::vector<std::int32_t> greedy(int pp, int tp) {
  std::vector<std::int32_t> out;
  const std::string& dir = folder();  // collective the first time: before the job's ranks split off
  auto group = first_ranks(pp * tp);
  if (group) {
    Generator g(model(), ModelWeights(dir), *group, pp, tp, Device::cpu(), DType::kF32);
    SamplingOptions o;
    o.temperature = 0;
    o.max_new_tokens = 100;  // more than fits: stops at the context
    const Generation r = g.generate({3, 1, 4, 1, 5, 9, 2, 6}, 2, o);
    EXPECT_TRUE(r.hit_context);
    for (const auto& s : r.tokens) out.insert(out.end(), s.begin(), s.end());
  }
  test_world().barrier();
  return out;
}

TEST(Generate, GreedyTokensAreTheSameUnderEveryLayout) {
  const std::vector<std::int32_t> serial = greedy(1, 1);
  // Serial's tokens to every rank: 2 sequences × (24 − 8) new tokens.
  Tensor t = Tensor::zeros({32}, DType::kI32);
  if (test_world().rank() == 0) {
    ASSERT_EQ(serial.size(), 32u);
    std::copy(serial.begin(), serial.end(), t.data<std::int32_t>());
  }
  test_world().broadcast(t, 0);
  const std::vector<std::int32_t> want(t.data<std::int32_t>(), t.data<std::int32_t>() + 32);
  const int world = test_world().size();
  for (const auto& [pp, tp] : {std::pair{1, 2}, std::pair{2, 1}, std::pair{2, 2}}) {
    if (pp * tp > world) continue;
    const std::vector<std::int32_t> got = greedy(pp, tp);
    if (!got.empty()) EXPECT_EQ(got, want) << "pp " << pp << " x tp " << tp;
  }
}

// The folder's tensors, loaded into pp2 × tp2 shards and gathered back, are the same bytes.
TEST(Generate, ImportUnderAnotherLayoutIsBitExact) {
  if (test_world().size() < 4) GTEST_SKIP() << "needs 4 ranks (pp2 x tp2)";
  const std::string& dir = folder();
  auto group = first_ranks(4);
  if (group) {
    const GptConfig c = model();
    const DeviceMesh mesh(*group, MeshLayout(1, 2, 2));
    const int stage = mesh.coord().pp;
    GptChunk chunk(c, {stage * 2, 2, stage == 0, stage == 1}, &mesh.tp_group(), {}, Device::cpu());
    const ModelWeights weights(dir);
    weights.load(chunk.parameters());
    for (Parameter* p : chunk.parameters()) {
      const Tensor back = without_padding(*p, gather_full(*p, p->value, chunk.tp()));
      const Tensor want = weights.read(p->name(), p->export_shape());
      ASSERT_EQ(back.shape(), want.shape()) << p->name();
      EXPECT_EQ(std::memcmp(back.raw(), want.raw(), want.nbytes()), 0) << p->name() << " changed on the way";
    }
  }
  test_world().barrier();
}

TEST(Generate, BadPromptsAreRefusedOnEveryRank) {
  // All ranks as tensor-parallel ranks of one stage (the model's 4 heads split over 1, 2 or 4).
  Generator g(model(), ModelWeights(folder()), test_world(), 1, test_world().size(), Device::cpu(), DType::kF32);
  SamplingOptions o;
  auto message = [&](const std::vector<std::int32_t>& prompt) {
    try {
      g.generate(prompt, 1, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({}).find("the prompt is empty"), std::string::npos);
  EXPECT_NE(message(std::vector<std::int32_t>(24, 1)).find("at most 23 prompt tokens"), std::string::npos);
  EXPECT_NE(message({1, 23}).find("prompt token 1 is 23, outside the model's vocabulary [0, 23)"), std::string::npos);
}

}  // namespace
}  // namespace trident
