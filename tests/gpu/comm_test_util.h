// Helpers of the multi-rank communicator tests on GPUs (tests/gpu/test_nccl_communicator.cpp,
// tests/gpu/test_device_world.cpp): skip decisions agreed over the world, tensors from per-rank
// formulas, exact expected reductions. See test_nccl_communicator.cpp for why comparisons are exact.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/cuda_probe.h"
#include "core/tensor.h"
#include "parallel/comm_factory.h"
#include "parallel/communicator.h"
#include "tests/mpi_test_env.h"

namespace trident::comm_test {


inline int world_rank() { return test_world().rank(); }
inline int world_size() { return test_world().size(); }

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

template <typename F>
inline std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// True on every rank when `ok` holds on every rank (an all-reduce over the MPI world).
inline bool on_all_ranks(bool ok) {
  Tensor bad = Tensor::empty({1}, DType::kI32);
  bad.data<std::int32_t>()[0] = ok ? 0 : 1;
  test_world().all_reduce(bad, ReduceOp::kMax);
  return bad.data<std::int32_t>()[0] == 0;
}

// Why this rank cannot run a kind of GPU test ("" when it can), agreed over the world.
struct GpuSetup {
  std::string skip_reason;
  int device = 0;
};

inline GpuSetup agree(std::string mine, int device) {
  const bool everyone = on_all_ranks(mine.empty());
  if (everyone) return {"", device};
  return {mine.empty() ? "another rank cannot run it (see that rank's reason)" : mine, device};
}

// Why this rank cannot use a GPU ("" when it can); the probe's reason also covers CPU-only builds.
inline std::string no_gpu_reason() { return cuda_probe().available ? "" : cuda_probe().reason; }

// NCCL: cuda:<local rank>, one GPU per rank on the node.
// ---- data ----------------------------------------------------------------------------------------

// A tensor on `device` holding value(i), stored as `dtype` (the values used are exact in bf16).
inline Tensor make(std::int64_t n, DType dtype, Device device, const std::function<double(std::int64_t)>& value) {
  Tensor host = Tensor::empty({n}, dtype);
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = value(i);
    switch (dtype) {
      case DType::kF32: host.data<float>()[i] = static_cast<float>(v); break;
      case DType::kBF16: host.data<bf16>()[i] = to_bf16(static_cast<float>(v)); break;
      case DType::kI32: host.data<std::int32_t>()[i] = static_cast<std::int32_t>(v); break;
    }
  }
  return host.to(device);
}

inline std::vector<double> values_of(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  std::vector<double> v(static_cast<std::size_t>(host.numel()));
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    switch (host.dtype()) {
      case DType::kF32: v[static_cast<std::size_t>(i)] = host.data<float>()[i]; break;
      case DType::kBF16: v[static_cast<std::size_t>(i)] = from_bf16(host.data<bf16>()[i]); break;
      case DType::kI32: v[static_cast<std::size_t>(i)] = host.data<std::int32_t>()[i]; break;
    }
  }
  return v;
}

// Every element against expected(i), |got − want| <= tolerance·max(1, |want|); reports the count
// and the first mismatch only.
inline void expect_values(const Tensor& t, const std::function<double(std::int64_t)>& expected, const std::string& what,
                   double tolerance = 0.0) {
  const std::vector<double> got = values_of(t);
  std::int64_t bad = 0, first = -1;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double want = expected(static_cast<std::int64_t>(i));
    if (!(std::abs(got[i] - want) <= tolerance * std::max(1.0, std::abs(want)))) {
      if (bad++ == 0) first = static_cast<std::int64_t>(i);
    }
  }
  EXPECT_EQ(bad, 0) << what << ": first mismatch at " << first << ": got "
                    << (first >= 0 ? got[static_cast<std::size_t>(first)] : 0.0) << ", want "
                    << (first >= 0 ? expected(first) : 0.0) << " (rank " << world_rank() << " of " << world_size()
                    << ")";
}

// Per-rank inputs (see the header comment on exactness).
inline double f(int r, std::int64_t i) { return (r + 1) * 0.5 + static_cast<double>(i % 13); }
inline double g(int r, std::int64_t i) { return static_cast<double>((i * 7 + r * 13) % 101) - 50.0; }
inline double h(int r, std::int64_t i) { return r * 1000.0 - static_cast<double>(i % 37) * (r % 3 - 1); }

inline double sum_over(int n, const std::function<double(int)>& v) {
  double s = 0;
  for (int r = 0; r < n; ++r) s += v(r);
  return s;
}
inline double max_over(int n, const std::function<double(int)>& v) {
  double m = v(0);
  for (int r = 1; r < n; ++r) m = std::max(m, v(r));
  return m;
}

// Tolerance of kAvg: exact when dividing by a power of two, else the rounding of 1/n.
inline double avg_tolerance(DType dtype, int n) {
  if ((n & (n - 1)) == 0) return 0.0;
  return dtype == DType::kBF16 ? 1.0 / 128 : 1e-6;
}

inline const std::vector<DType> kDtypes = {DType::kF32, DType::kBF16, DType::kI32};
inline const std::vector<std::int64_t> kSizes = {1, 1000, 262147};  // one element, small, and larger than NCCL's chunks
inline const std::vector<ReduceOp> kOps = {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax};

inline std::string label(DType dtype, ReduceOp op, std::int64_t n) {
  return std::string(dtype_name(dtype)) + " " + std::string(reduce_op_name(op)) + " n=" + std::to_string(n);
}

// Input and expected value of one reduction: kMax reduces g (signed, spread), the others f (h for i32).
inline std::function<double(int, std::int64_t)> input_of(DType dtype, ReduceOp op) {
  if (op == ReduceOp::kMax) return g;
  return dtype == DType::kI32 ? h : f;
}

inline std::function<double(std::int64_t)> reduced(DType dtype, ReduceOp op, int n, std::int64_t offset = 0) {
  const auto in = input_of(dtype, op);
  return [=](std::int64_t i) {
    const auto at = [&](int r) { return in(r, i + offset); };
    if (op == ReduceOp::kMax) return max_over(n, at);
    const double s = sum_over(n, at);
    return op == ReduceOp::kAvg ? s / n : s;
  };
}

}  // namespace trident::comm_test
