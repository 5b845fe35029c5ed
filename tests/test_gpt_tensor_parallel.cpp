// Tensor parallelism on real MPI ranks: for every tp that divides the world, with and without
// sequence parallelism and in each recompute mode, the loss equals the serial model's and every
// parameter gradient, gathered to its full shape, equals the serial gradient. The serial model
// runs on each rank locally (tp = 1, no communication) on the same batch.
//
// Tolerance: per parameter, max |g_tp − g_serial| <= 1e-5 · max |g_serial| (fp32; TP changes only
// the order of summation), and |loss_tp − loss_serial| <= 1e-5 · loss_serial.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <cstdio>

#include "layers/gather_full.h"
#include "layers/gpt2_safetensors.h"
#include "layers/gpt_chunk.h"
#include "tests/gpt_test_util.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

using testing_util::random_tokens;
using testing_util::tiny_config;

struct StepResult {
  double loss = 0;
  std::map<std::string, Tensor> grads;  // full shape, padding included
};

// Two micro-batches of two sequences each, gradients accumulated, SP-partial grads reduced.
StepResult run_step(GptChunk& m, const GptConfig& c) {
  const Tensor ids = random_tokens(4, c, 11, "ids"), targets = random_tokens(4, c, 11, "targets");
  StepResult r;
  m.zero_grads();
  const auto sync = testing_util::wire_grad_sync(m);
  sync->start_step(2);
  for (int i = 0; i < 2; ++i) {
    m.forward(i, ids.slice0(2 * i, 2 * i + 2), targets.slice0(2 * i, 2 * i + 2), 0.5f);
    r.loss += m.loss(i) / 2;
    m.backward(i);
  }
  sync->finish();
  for (Parameter* p : m.parameters()) r.grads[p->name()] = gather_full(*p, p->grad, m.tp());
  return r;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(double(t.data<float>()[i])));
  return m;
}

void expect_same_step(const StepResult& got, const StepResult& want, const std::string& what) {
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss) << what;
  ASSERT_EQ(got.grads.size(), want.grads.size()) << what;
  for (const auto& [name, w] : want.grads) {
    const Tensor& g = got.grads.at(name);
    // The serial model pads nothing; compare the GPT-2 rows (padding rows must have zero grad).
    const std::int64_t n = w.numel();
    double err = 0;
    for (std::int64_t i = 0; i < n; ++i) err = std::max(err, std::abs(double(g.data<float>()[i]) - w.data<float>()[i]));
    EXPECT_LE(err, 1e-5 * max_abs(w)) << what << " " << name << " max|g|=" << max_abs(w);
    for (std::int64_t i = n; i < g.numel(); ++i) ASSERT_EQ(g.data<float>()[i], 0.0f) << what << " padding of " << name;
  }
}

// The TP groups of this test: consecutive world ranks, tp of them per group.
std::unique_ptr<Communicator> tp_group(int tp) {
  Communicator& world = test_world();
  return world.split(world.rank() / tp, world.rank() % tp, "tp");
}

TEST(GptTensorParallel, MatchesSerialForEveryTpSpAndRecompute) {
  const GptConfig c = tiny_config();
  GptChunk serial(c, ChunkLayout::whole(c), nullptr, {});
  StepResult want = run_step(serial, c);
  const int world = test_world().size();
  int cases = 0;
  for (int tp : {1, 2, 4}) {
    if (world % tp != 0) continue;
    auto group = tp_group(tp);
    for (bool sp : {false, true}) {
      for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
        GptChunk m(c, ChunkLayout::whole(c), group.get(), {sp, r});
        const std::string what = "tp=" + std::to_string(tp) + " sp=" + std::to_string(sp) + " recompute=" +
                                 std::string(recompute_name(r));
        // Initial weights: each shard is the slice of the serial model's full tensor.
        for (Parameter* p : m.parameters()) {
          const Tensor full = gather_full(*p, p->value, m.tp());
          const Tensor& ref = serial.find(p->name())->value;
          for (std::int64_t i = 0; i < ref.numel(); ++i)
            ASSERT_EQ(full.data<float>()[i], ref.data<float>()[i]) << what << " init of " << p->name();
        }
        StepResult got = run_step(m, c);
        // The serial model's wte has no padding rows; compare on the first V rows.
        expect_same_step(got, want, what);
        ++cases;
      }
    }
  }
  EXPECT_GE(cases, 6);
}

TEST(GptTensorParallel, IndivisibleSizesAreClearErrors) {
  const int world = test_world().size();
  if (world < 2) GTEST_SKIP() << "needs tp >= 2";
  const int tp = world >= 4 ? 4 : 2;
  auto group = tp_group(tp);
  GptConfig c = tiny_config();
  c.heads = 2 * tp + 1;  // 5 or 9 heads: not divisible by tp
  c.hidden = 4 * c.heads;
  try {
    GptChunk m(c, ChunkLayout::whole(c), group.get(), {});
    ADD_FAILURE() << "heads " << c.heads << " over tp " << tp << " must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.heads " + std::to_string(c.heads) + " is not divisible by tp " +
                                         std::to_string(tp)),
              std::string::npos)
        << e.what();
  }
  // Sequence parallelism with a micro-batch whose token count tp does not divide.
  GptConfig s = tiny_config();
  s.seq_len = 3;
  GptChunk m(s, ChunkLayout::whole(s), group.get(), {true, Recompute::kNone});
  const Tensor ids = random_tokens(1, s, 1, "ids");
  try {
    m.forward(0, ids, ids);
    ADD_FAILURE() << "3 tokens over tp " << tp << " with sequence parallelism must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence parallelism splits the 3 tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trident

namespace trident {
namespace {

// A checkpoint exported from a TP-sharded model is the serial model's (same bytes), and loading
// it back into a sharded model reproduces every shard.
TEST(GptTensorParallel, SafetensorsAreLayoutIndependent) {
  const GptConfig c = testing_util::tiny_config();
  const int world = test_world().size();
  const int tp = world >= 4 ? 4 : world >= 2 ? 2 : 1;
  auto group = tp_group(tp);
  GptChunk sharded(c, ChunkLayout::whole(c), group.get(), {});
  const std::string path = "/tmp/trident_tp_export." + std::to_string(test_world().rank() / tp) + ".safetensors";
  export_gpt2_safetensors(sharded, path);
  group->barrier();  // rank 0 of the group wrote it

  GptConfig other = c;
  other.seed = c.seed + 5;
  GptChunk serial(other, ChunkLayout::whole(other), nullptr, {});
  import_gpt2_safetensors(serial, path);
  GptChunk reference(c, ChunkLayout::whole(c), nullptr, {});
  for (Parameter* p : reference.parameters()) {
    const Tensor& got = serial.find(p->name())->value;
    for (std::int64_t i = 0; i < got.numel(); ++i)
      ASSERT_EQ(got.data<float>()[i], p->value.data<float>()[i]) << p->name();
  }

  GptChunk resharded(other, ChunkLayout::whole(other), group.get(), {});
  import_gpt2_safetensors(resharded, path);
  for (Parameter* p : sharded.parameters()) {
    const Tensor& got = resharded.find(p->name())->value;
    for (std::int64_t i = 0; i < got.numel(); ++i)
      ASSERT_EQ(got.data<float>()[i], p->value.data<float>()[i]) << p->name();
  }
  group->barrier();
  if (group->rank() == 0) std::remove(path.c_str());
}

}  // namespace
}  // namespace trident
