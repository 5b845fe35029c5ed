// Generation with a KV cache on one rank: decoding token by token gives the training forward's
// losses, a whole-prompt prefill gives the same last logits as feeding it one token at a time,
// the context is enforced, and the cache op checks its operands.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "layers/gpt_chunk.h"
#include "tests/gpt_test_util.h"

namespace trident {
namespace {

using testing_util::random_tokens;
using testing_util::tiny_config;

// Σ over rows of the cross-entropy of host logits [B, V] against one target per row.
double cross_entropy_sum(const Tensor& logits, const Tensor& targets, std::int64_t column) {
  const std::int64_t rows = logits.dim(0), v = logits.dim(1), s = targets.dim(1);
  double sum = 0.0;
  for (std::int64_t b = 0; b < rows; ++b) {
    const float* l = logits.data<float>() + b * v;
    double max = l[0], z = 0.0;
    for (std::int64_t j = 1; j < v; ++j) max = std::max<double>(max, l[j]);
    for (std::int64_t j = 0; j < v; ++j) z += std::exp(l[j] - max);
    sum += std::log(z) + max - l[targets.data<std::int32_t>()[b * s + column]];
  }
  return sum;
}

Tensor column_of(const Tensor& ids, std::int64_t t) {
  Tensor c = Tensor::empty({ids.dim(0), 1}, DType::kI32);
  for (std::int64_t b = 0; b < ids.dim(0); ++b) c.data<std::int32_t>()[b] = ids.data<std::int32_t>()[b * ids.dim(1) + t];
  return c;
}

TEST(KvCache, TokenByTokenDecodingGivesTheTrainingLoss) {
  const GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const Tensor ids = random_tokens(3, c, 11, "ids"), targets = random_tokens(3, c, 11, "targets");
  m.forward(0, ids, targets);
  const double training_loss = m.loss(0);
  m.release(0);

  KvCache cache = m.make_kv_cache(3);
  double sum = 0.0;
  for (std::int64_t t = 0; t < c.seq_len; ++t) {
    const Tensor logits = m.forward_cached(column_of(ids, t), cache);  // [3, V]: position t of each sequence
    ASSERT_EQ(logits.shape(), Shape({3, c.vocab}));
    sum += cross_entropy_sum(logits, targets, t);
  }
  EXPECT_EQ(cache.length, c.seq_len);
  EXPECT_NEAR(sum / static_cast<double>(3 * c.seq_len), training_loss, 1e-5 * training_loss);
}

TEST(KvCache, PrefillEqualsOneTokenAtATime) {
  const GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const Tensor ids = random_tokens(2, c, 5, "ids");
  const std::int64_t n = c.seq_len - 2;  // a prompt of n tokens, then two more one at a time
  Tensor prompt = Tensor::empty({2, n}, DType::kI32);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t t = 0; t < n; ++t) prompt.data<std::int32_t>()[b * n + t] = ids.data<std::int32_t>()[b * c.seq_len + t];

  KvCache whole = m.make_kv_cache(2), step = m.make_kv_cache(2);
  Tensor a = m.forward_cached(prompt, whole), b;
  for (std::int64_t t = 0; t < n; ++t) b = m.forward_cached(column_of(ids, t), step);
  for (std::int64_t t = n; t < c.seq_len; ++t) {
    a = m.forward_cached(column_of(ids, t), whole);
    b = m.forward_cached(column_of(ids, t), step);
  }
  for (std::int64_t i = 0; i < a.numel(); ++i)
    ASSERT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-5) << "logit " << i;
}

TEST(KvCache, ContextIsTheModelsSeqLen) {
  const GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  KvCache cache = m.make_kv_cache(1);
  const Tensor ids = random_tokens(1, c, 3, "ids");  // exactly seq_len tokens: fits
  m.forward_cached(ids, cache);
  try {
    m.forward_cached(column_of(ids, 0), cache);
    FAIL() << "a token past model.seq_len must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.seq_len"), std::string::npos) << e.what();
  }
}

TEST(KvCache, OpChecksTheCacheFits) {
  const Ops& ops = ops_for(Device::cpu());
  const Tensor qkv = Tensor::zeros({1, 3, 3, 2, 4}), k = Tensor::zeros({1, 2, 4, 4}), v = Tensor::zeros({1, 2, 4, 4});
  const Tensor out = Tensor::zeros({1, 3, 2, 4});
  EXPECT_NO_THROW(ops.attention_cached(qkv, 2, 1, k, v, out));
  EXPECT_THROW(ops.attention_cached(qkv, 2, 2, k, v, out), Error);  // positions [2, 5) > 4
  EXPECT_THROW(ops.attention_cached(qkv, 2, 0, k, Tensor::zeros({1, 2, 3, 4}), out), Error);
}

}  // namespace
}  // namespace trident
