// Helpers shared by the CPU op tests: tensors from values, seeded random tensors, error checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace trident::testing_util {

inline const Ops& ops() { return ops_for(Device::cpu()); }

inline Tensor from_vec(const Shape& shape, const std::vector<float>& values) {
  Tensor t = Tensor::empty(shape);
  EXPECT_EQ(static_cast<std::size_t>(t.numel()), values.size());
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

inline Tensor ids_tensor(const std::vector<std::int32_t>& ids) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(ids.size())}, DType::kI32);
  std::copy(ids.begin(), ids.end(), t.data<std::int32_t>());
  return t;
}

inline std::vector<float> to_vec(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }

inline Tensor random_tensor(const Shape& shape, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(gen);
  return t;
}

// Runs f, expects trident::Error whose message contains `needle`.
template <typename F>
inline void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected trident::Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Cross-entropy over vocab-sharded logits, Megatron-style, with the TP all-reduces done as loops
// over shards: `full` is [N, tp·Vl] with the real vocabulary in its first `vocab` columns. Returns the
// per-row losses [N]; when `dfull` is defined, also writes the concatenated shard backwards (each
// shard's buffer pre-filled with stale values, so unwritten padding would show).
inline Tensor sharded_cross_entropy(const Tensor& full, const Tensor& targets, std::int64_t vocab, std::int64_t tp,
                             float dloss, const Tensor& dfull = Tensor()) {
  const std::int64_t n = full.dim(0), vp = full.dim(1), vl = vp / tp;
  std::vector<Tensor> logits;
  std::vector<VocabShard> shards;
  for (std::int64_t rank = 0; rank < tp; ++rank) {
    Tensor s = Tensor::empty({n, vl});
    for (std::int64_t r = 0; r < n; ++r)
      std::copy_n(full.data<float>() + r * vp + rank * vl, vl, s.data<float>() + r * vl);
    logits.push_back(s);
    shards.push_back({rank * vl, std::clamp<std::int64_t>(vocab - rank * vl, 0, vl), vocab});
  }
  Tensor row_max = Tensor::empty({n}), sum_exp = Tensor::zeros({n}), target_logit = Tensor::zeros({n});
  Tensor a = Tensor::empty({n}), b = Tensor::empty({n}), losses = Tensor::empty({n});
  ops().fill(row_max, -INFINITY);
  for (std::int64_t rank = 0; rank < tp; ++rank) {
    ops().cross_entropy_row_max(logits[rank], shards[rank], a);
    for (std::int64_t r = 0; r < n; ++r)
      row_max.data<float>()[r] = std::max(row_max.data<float>()[r], a.data<float>()[r]);
  }
  for (std::int64_t rank = 0; rank < tp; ++rank) {
    ops().cross_entropy_sums(logits[rank], targets, shards[rank], row_max, a, b);
    ops().axpy(1.0f, a, sum_exp);
    ops().axpy(1.0f, b, target_logit);
  }
  ops().cross_entropy_losses(row_max, sum_exp, target_logit, losses);
  if (dfull.defined())
    for (std::int64_t rank = 0; rank < tp; ++rank) {
      Tensor d = Tensor::empty({n, vl});
      ops().fill(d, 7.0f);  // stale values, so unwritten padding would show
      ops().cross_entropy_backward(logits[rank], targets, shards[rank], row_max, sum_exp, dloss, d);
      for (std::int64_t r = 0; r < n; ++r)
        std::copy_n(d.data<float>() + r * vl, vl, dfull.data<float>() + r * vp + rank * vl);
    }
  return losses;
}

}  // namespace trident::testing_util
