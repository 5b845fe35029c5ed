// Helpers shared by the CPU op tests: tensors from values, seeded random tensors, error checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
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

}  // namespace trident::testing_util
