#include "core/cross_entropy_checks.h"

#include "core/error.h"

namespace trident {

CrossEntropyDims check_vocab_shard(const char* op, const Tensor& logits, const VocabShard& shard) {
  TRIDENT_CHECK(logits.ndim() >= 1, op, ": logits must have at least one dim, got a scalar");
  const std::int64_t vl = logits.dim(-1);
  TRIDENT_CHECK(shard.vocab >= 1, op, ": shard.vocab is ", shard.vocab, ", the vocabulary needs at least one id");
  // valid == 0 is legal: with heavy TP padding a rank's shard can be all padding.
  TRIDENT_CHECK(shard.valid >= 0 && shard.valid <= vl, op, ": shard.valid ", shard.valid, " must be in [0, ", vl,
                "] (logits ", logits.shape().str(), ")");
  TRIDENT_CHECK(shard.begin >= 0 && shard.begin + shard.valid <= shard.vocab, op, ": shard [", shard.begin, ", ",
                shard.begin + shard.valid, ") does not lie inside the vocabulary [0, ", shard.vocab, ")");
  std::int64_t n = 1;
  for (int i = 0; i + 1 < logits.ndim(); ++i) n *= logits.dim(i);
  return {n, vl};
}

void check_one_per_row(const char* op, const char* name, const Tensor& t, std::int64_t n) {
  TRIDENT_CHECK(t.numel() == n, op, ": ", name, " ", t.shape().str(), " should hold one value per row (", n,
                " rows)");
}

void check_one_target_per_row(const char* op, const Tensor& targets, std::int64_t n) {
  TRIDENT_CHECK(targets.numel() == n, op, ": targets ", targets.shape().str(), " should hold one id per row (", n,
                " rows)");
}

}  // namespace trident
