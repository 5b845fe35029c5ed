// The CPU training step's memory behaviour (issue 17's allocation and activation-memory targets),
// on a whole model in one process:
// - after the first step, a step allocates nothing from the system: every tensor is served by the
//   host block cache (core/cpu/host_block_cache.h) from a block the previous step released;
// - what a micro-batch keeps for its backward is linear in the sequence length: fused attention
//   saves one log-sum-exp per query row, never [B, nh, S, S] probabilities.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/cpu/host_block_cache.h"
#include "core/ops.h"
#include "tests/gpt_test_util.h"

namespace trident {
namespace {

using testing_util::random_tokens;

// A small model with several attention tiles per sequence (S = 160: two whole 64-token tiles and
// a partial one), so the attention workspace and its per-thread scratch are exercised too.
GptConfig step_config() {
  GptConfig c;
  c.layers = 2;
  c.hidden = 64;
  c.heads = 2;
  c.seq_len = 160;
  c.vocab = 97;
  c.seed = 11;
  return c;
}

// zero_grads + forward + backward + AdamW over every parameter, as a trainer's step.
class Step {
 public:
  Step(const GptConfig& c, std::int64_t batch)
      : model_(c, ChunkLayout::whole(c), nullptr, {}),
        params_(model_.parameters()),
        ids_(random_tokens(batch, c, 5, "ids")),
        targets_(random_tokens(batch, c, 5, "targets")) {
    for (Parameter* p : params_) {
      m_.push_back(Tensor::zeros(p->value.shape()));
      v_.push_back(Tensor::zeros(p->value.shape()));
    }
  }
  void run() {
    model_.zero_grads();
    model_.forward(0, ids_, targets_);
    model_.backward(0);
    AdamWParams hp;
    hp.lr = 1e-3f;
    hp.step = ++steps_;
    for (std::size_t i = 0; i < params_.size(); ++i)
      ops_for(Device::cpu()).adamw_update(params_[i]->value, params_[i]->grad, m_[i], v_[i], hp);
  }
  // Bytes micro-batch 0 keeps after its forward (released by a backward or release()).
  std::int64_t stash_after_forward() {
    model_.forward(0, ids_, targets_);
    const std::int64_t bytes = model_.stashed_bytes(0);
    model_.release(0);
    return bytes;
  }

 private:
  GptChunk model_;
  ParameterList params_;
  Tensor ids_, targets_;
  std::vector<Tensor> m_, v_;
  std::int64_t steps_ = 0;
};

TEST(CpuStepMemory, StepsAfterTheFirstAllocateNothing) {
  Step step(step_config(), 3);
  step.run();  // the first step allocates its activations, gradients' temporaries and scratch
  const cpu::HostCacheStats before = cpu::host_cache_stats();
  for (int i = 0; i < 3; ++i) step.run();
  const cpu::HostCacheStats after = cpu::host_cache_stats();
  EXPECT_EQ(after.misses, before.misses) << "tensors allocated from the system after the first step";
  EXPECT_GT(after.hits, before.hits);  // the steps did allocate tensors, all from the cache
}

TEST(CpuStepMemory, SavedActivationsAreLinearInSequenceLength) {
  std::vector<std::int64_t> stash;
  for (std::int64_t s : {128, 256, 512}) {
    GptConfig c = step_config();
    c.seq_len = s;
    Step step(c, 2);
    stash.push_back(step.stash_after_forward());
  }
  ASSERT_GT(stash[0], 0);
  // Every kept tensor has B·S rows (attention keeps [B, nh, S, 1]): doubling S doubles the stash. An
  // S x S term would make the second difference positive.
  EXPECT_EQ(stash[1], 2 * stash[0]);
  EXPECT_EQ(stash[2], 2 * stash[1]);
}

}  // namespace
}  // namespace trident
