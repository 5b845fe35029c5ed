// The serial GPT (tp = 1): gradients against finite differences, closed forms for parameters and
// FLOPs, activation accounting, recompute and the I/W split against the plain backward.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/allocator.h"
#include "layers/gpt_chunk.h"
#include "tests/gpt_test_util.h"

namespace trident {
namespace {

using testing_util::random_tokens;
using testing_util::tiny_config;

std::map<std::string, Tensor> grads_of(GptChunk& m) {
  std::map<std::string, Tensor> g;
  for (Parameter* p : m.parameters()) g[p->name()] = p->grad.clone();
  return g;
}

// One step over `mbs` micro-batches; returns the mean loss over all of them.
double step(GptChunk& m, const Tensor& ids, const Tensor& targets, int mbs) {
  m.zero_grads();
  const auto sync = testing_util::wire_grad_sync(m);
  sync->start_step(mbs);
  const std::int64_t per = ids.dim(0) / mbs;
  double loss = 0;
  for (int i = 0; i < mbs; ++i) {
    m.forward(i, ids.slice0(i * per, (i + 1) * per), targets.slice0(i * per, (i + 1) * per), 1.0f / mbs);
    loss += m.loss(i) / mbs;
    m.backward(i);
  }
  sync->finish();
  return loss;
}

TEST(GptSerial, ParameterCountMatchesClosedForm) {
  for (GptConfig c : {tiny_config(), GptConfig::mini()}) {
    GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
    std::int64_t n = 0;
    for (Parameter* p : m.parameters()) n += p->export_shape().numel();
    EXPECT_EQ(n, c.parameter_count());
  }
  // GPT-2 small with the real 50257 vocabulary has the published 124,439,808 parameters.
  GptConfig gpt2 = GptConfig::small();
  gpt2.vocab = 50257;
  EXPECT_EQ(gpt2.parameter_count(), 124439808);
}

TEST(GptSerial, ForwardFlopsTimesThreeIsMegatronFormula) {
  for (GptConfig c : {tiny_config(), GptConfig::mini()}) {
    GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
    for (std::int64_t b : {1, 8}) EXPECT_NEAR(3.0 * m.flops_forward(b) / c.flops_per_step(b), 1.0, 1e-12);
  }
}

TEST(GptSerial, ParameterNamesAreGpt2s) {
  GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  std::vector<std::string> names;
  for (Parameter* p : m.parameters()) names.push_back(p->name());
  const std::vector<std::string> block = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                          "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                          "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
  std::vector<std::string> want = {"wte.weight", "wpe.weight"};
  for (int i = 0; i < c.layers; ++i)
    for (const auto& b : block) want.push_back("h." + std::to_string(i) + "." + b);
  want.push_back("ln_f.weight");
  want.push_back("ln_f.bias");
  EXPECT_EQ(names, want);
  EXPECT_EQ(m.find("h.1.attn.c_attn.weight")->full_shape(), Shape({16, 48}));
  EXPECT_EQ(m.find("h.0.mlp.c_proj.weight")->full_shape(), Shape({64, 16}));
}

TEST(GptSerial, InitFollowsGpt2) {
  GptConfig c = GptConfig::mini();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  auto stdev = [](const Tensor& t) {
    double s = 0, s2 = 0;
    for (std::int64_t i = 0; i < t.numel(); ++i) s += t.data<float>()[i], s2 += double(t.data<float>()[i]) * t.data<float>()[i];
    const double n = static_cast<double>(t.numel());
    return std::sqrt(s2 / n - (s / n) * (s / n));
  };
  EXPECT_NEAR(stdev(m.find("wte.weight")->value), 0.02, 0.0005);
  EXPECT_NEAR(stdev(m.find("h.0.attn.c_attn.weight")->value), 0.02, 0.0005);
  EXPECT_NEAR(stdev(m.find("h.0.mlp.c_proj.weight")->value), 0.02 / std::sqrt(8.0), 0.0003);
  EXPECT_NEAR(stdev(m.find("h.3.attn.c_proj.weight")->value), 0.02 / std::sqrt(8.0), 0.0003);
  EXPECT_EQ(m.find("h.2.ln_1.weight")->value.data<float>()[5], 1.0f);
  EXPECT_EQ(m.find("h.2.mlp.c_fc.bias")->value.data<float>()[5], 0.0f);
}

// Central differences of the loss for every parameter of a tiny model: every element of tensors up
// to 128 elements, and 128 elements spread over each larger one (a stride coprime with the row
// length, so every row and column is visited). The loss is f32, so eps is large enough for
// rounding (~1e-7·loss/eps) to stay far below the tolerance.
TEST(GptSerial, EveryParameterGradientMatchesFiniteDifferences) {
  GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const Tensor ids = random_tokens(2, c, 1, "ids"), targets = random_tokens(2, c, 1, "targets");
  step(m, ids, targets, 2);
  const auto analytic = grads_of(m);
  auto loss_now = [&] {
    double l = 0;
    for (int i = 0; i < 2; ++i) {
      m.forward(100 + i, ids.slice0(i, i + 1), targets.slice0(i, i + 1), 0.5f);
      l += m.loss(100 + i) / 2;
      m.release(100 + i);
    }
    return l;
  };
  const float eps = 1e-2f;
  for (Parameter* p : m.parameters()) {
    int checked = 0;
    const Tensor& g = analytic.at(p->name());
    float* w = p->value.data<float>();
    const std::int64_t n = p->value.numel(), stride = n <= 128 ? 1 : n / 128 | 1;
    for (std::int64_t i = 0; i < n; i += stride) {
      const float orig = w[i];
      w[i] = orig + eps;
      const double up = loss_now();
      w[i] = orig - eps;
      const double down = loss_now();
      w[i] = orig;
      const double fd = (up - down) / (2.0 * eps), an = g.data<float>()[i];
      ASSERT_NEAR(an, fd, 2e-4 + 2e-2 * std::abs(fd)) << p->name() << "[" << i << "]";
      ++checked;
    }
    EXPECT_GE(checked, std::min<std::int64_t>(n, 64)) << p->name();
  }
}

// Every recompute mode and the I/W split (both micro-batches' inputs first, then weights in
// reverse order, as zero-bubble schedules do) give bit-identical losses and gradients.
TEST(GptSerial, RecomputeAndSplitBackwardAreExact) {
  GptConfig c = tiny_config();
  const Tensor ids = random_tokens(4, c, 2, "ids"), targets = random_tokens(4, c, 2, "targets");
  GptChunk ref(c, ChunkLayout::whole(c), nullptr, {});
  const double ref_loss = step(ref, ids, targets, 2);
  const auto ref_grads = grads_of(ref);
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    GptChunk m(c, ChunkLayout::whole(c), nullptr, {false, r});
    m.zero_grads();
    double loss = 0;
    for (int i = 0; i < 2; ++i) {
      m.forward(i, ids.slice0(2 * i, 2 * i + 2), targets.slice0(2 * i, 2 * i + 2), 0.5f);
      loss += m.loss(i) / 2;
    }
    m.backward_input(1);
    m.backward_input(0);
    m.backward_weight(0);
    m.backward_weight(1);
    EXPECT_EQ(loss, ref_loss) << recompute_name(r);
    for (Parameter* p : m.parameters()) {
      const Tensor& want = ref_grads.at(p->name());
      for (std::int64_t i = 0; i < want.numel(); ++i)
        ASSERT_EQ(p->grad.data<float>()[i], want.data<float>()[i]) << recompute_name(r) << " " << p->name();
    }
    EXPECT_EQ(m.stashed_micro_batches(), 0u);
  }
}

// What forward leaves allocated is exactly what the stash reports, and it follows the closed form
// of this implementation (f32, per block, no recompute, tp = 1):
//   4 bytes · (N·h·(4 + 12) + 4·N + B·nh·S)   [ln_1, x1, ln_2, x2; qkv, attn out, fc, gelu; LN stats;
//                                              attention's row log-sum-exp: no S² term]
// Selective recompute drops the attention output and log-sum-exp and the GELU output (5·N·h + B·nh·S).
TEST(GptSerial, StashedBytesEqualAllocatorGrowthAndClosedForm) {
  GptConfig c = tiny_config();
  const std::int64_t B = 3, N = B * c.seq_len, h = c.hidden;
  const Tensor ids = random_tokens(B, c, 3, "ids"), targets = random_tokens(B, c, 3, "targets");
  Allocator& alloc = allocator_for(Device::cpu());
  std::map<Recompute, std::int64_t> stashed;
  for (Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
    GptChunk m(c, ChunkLayout::whole(c), nullptr, {false, r});
    const std::int64_t before = alloc.stats().current_bytes;
    m.forward(0, ids, targets);
    EXPECT_EQ(alloc.stats().current_bytes - before, m.stashed_bytes(0)) << recompute_name(r);
    stashed[r] = m.stashed_bytes(0);
    m.backward(0);
    EXPECT_EQ(alloc.stats().current_bytes, before) << "backward must free every activation";
  }
  const std::int64_t block = 4 * (N * h * 16 + 4 * N + B * c.heads * c.seq_len);
  EXPECT_EQ(stashed[Recompute::kNone] - stashed[Recompute::kSelective], c.layers * 4 * (5 * N * h + B * c.heads * c.seq_len));
  // Full recompute keeps each block's output (the next block's input) and nothing else of it.
  EXPECT_EQ(stashed[Recompute::kNone] - stashed[Recompute::kFull], c.layers * (block - 4 * N * h));
}

TEST(GptSerial, BadUseIsAClearError) {
  GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const Tensor ids = random_tokens(1, c, 4, "ids");
  EXPECT_THROW(m.backward(0), Error);
  EXPECT_THROW(m.forward(0, ids), Error);  // last stage without targets
  Tensor wrong = Tensor::zeros({1, c.seq_len + 1}, DType::kI32);
  EXPECT_THROW(m.forward(1, wrong, wrong), Error);
  GptConfig odd = c;
  odd.heads = 5;
  try {
    GptChunk bad(odd, ChunkLayout::whole(odd), nullptr, {});
    FAIL() << "hidden 16 with 5 heads must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by model.heads 5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trident
