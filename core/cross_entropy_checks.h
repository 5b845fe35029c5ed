// Shape checks of the vocab-parallel cross-entropy ops (semantics in core/ops.h), shared by every op
// table (core/cpu/cpu_cross_entropy.cpp, core/cuda/cuda_cross_entropy.cpp) so that both reject a bad
// shard or operand with the same message. Device and dtype checks stay with each table; call them first.
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"

namespace trident {

// The rows and local vocab columns of logits [.., Vl]: n is the product of the leading dims (not
// numel / Vl, so an empty shard [N, 0] still has N rows).
struct CrossEntropyDims {
  std::int64_t n = 0, vl = 0;
};

// logits [.., Vl] (rank >= 1) against a shard that fits both the tensor and the vocabulary.
CrossEntropyDims check_vocab_shard(const char* op, const Tensor& logits, const VocabShard& shard);

// A per-row statistic (row_max, sum_exp, ...) holds one value per row of logits.
void check_one_per_row(const char* op, const char* name, const Tensor& t, std::int64_t n);

// targets holds one id per row of logits.
void check_one_target_per_row(const char* op, const Tensor& targets, std::int64_t n);

}  // namespace trident
