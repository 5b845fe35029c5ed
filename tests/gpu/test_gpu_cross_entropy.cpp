// CUDA vocab-parallel cross-entropy against the CPU table, op by op (each GPU op gets the same
// inputs as the CPU op, so its own error is measured) and chained, for f32 and bf16 logits. Shards:
// Vl = 1; Vl = 257 with padding, at vocab id 0 and further in (targets inside and outside the
// shard); GPT-2's padded 50304 columns and the second tp = 2 half of them (vectorised loads, a
// scalar tail); an all-padding shard. Also: bad targets (on the device, reported naming the row),
// and bad operands.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/tensor.h"
#include "tests/gpu/gpu_test_util.h"

namespace trident {
namespace {

using namespace gpu_test;

// Tolerances (|gpu − cpu| <= atol + rtol·|cpu|):
// - row_max and target_logit pick one input value: exact (bf16 inputs are bf16-exact on both sides).
// - sum_exp: up to 50k terms in (0, 1]; the CPU sums them in 16 lanes of ~3k sequential adds, the
//   GPU in 256 threads and a tree. Sequential f32 summation of k positive terms errs by ~√k·2^-24
//   relative (3e-6 for k = 3000; the linear worst case 1.8e-4 is not approached with random
//   terms), and expf (≤ 2 ulp) vs the CPU's exp (~1 ulp) adds 2e-7: rtol 1e-4.
constexpr double kSumRtol = 1e-4;
// - losses from identical statistics: logf vs std::log, ≤ 1 ulp each of a value ≤ ~20.
constexpr double kLossAtol = 1e-5, kLossRtol = 1e-6;
// - losses chained from the GPU's own statistics: log(sum_exp) inherits sum_exp's 1e-4 relative.
constexpr double kChainedLossAtol = 2e-4;
// - dlogits = dloss/sum_exp · exp(x − max) from identical statistics: exp ≤ 3 ulp apart plus two
//   roundings ≈ 5e-7 relative: rtol 2e-6. The target column subtracts dloss from a term ≤ dloss,
//   so its absolute error is ≤ 5e-7·dloss; atol 5e-7 (dloss = 0.25 here).
constexpr double kGradAtol = 5e-7, kGradRtol = 2e-6;
// - bf16 dlogits: the f32 value rounded to bf16, at most one bf16 ulp (2^-7 relative) away.
constexpr double kBf16Rtol = 1.0 / 128;
constexpr float kDloss = 0.25f;

struct CeCase {
  std::int64_t n, vl, begin, valid, vocab;
  std::string str() const {
    return "N=" + std::to_string(n) + " Vl=" + std::to_string(vl) + " shard [" + std::to_string(begin) + ", " +
           std::to_string(begin + valid) + ") of " + std::to_string(vocab);
  }
};

const CeCase kCases[] = {
    {5, 1, 5, 1, 7},                // a one-column shard
    {7, 257, 0, 250, 250},          // tp = 1 with 7 padding columns
    {9, 257, 100, 250, 1000},       // a middle shard: about half the targets elsewhere
    {3, 50304, 0, 50257, 50257},    // GPT-2, padded to a multiple of 64 (vectorised)
    {5, 25152, 25152, 25105, 50257} // tp = 2, second half: vectorised with a scalar tail of 1
};

struct CeData {
  Tensor logits;   // host f32 [N, Vl]; padding columns hold 1000, which must never matter
  Tensor targets;  // host i32 [N]: even rows inside the shard, odd rows anywhere in the vocabulary
};

CeData make_data(const CeCase& k, std::uint32_t seed, bool bf16_exact) {
  CeData d{random_host({k.n, k.vl}, seed, -4.0f, 4.0f, bf16_exact), Tensor()};
  for (std::int64_t r = 0; r < k.n; ++r)
    for (std::int64_t j = k.valid; j < k.vl; ++j) d.logits.data<float>()[r * k.vl + j] = 1000.0f;
  std::mt19937 gen(seed + 1);
  std::vector<std::int32_t> t;
  for (std::int64_t r = 0; r < k.n; ++r) {
    const bool inside = r % 2 == 0 && k.valid > 0;
    t.push_back(static_cast<std::int32_t>(inside ? k.begin + static_cast<std::int64_t>(gen() % k.valid)
                                                 : static_cast<std::int64_t>(gen() % k.vocab)));
  }
  d.targets = ids_tensor(t);
  return d;
}

VocabShard shard_of(const CeCase& k) { return {k.begin, k.valid, k.vocab}; }

Tensor gpu_rows(std::int64_t n) { return gpu_empty({n}); }

std::string label(const char* what, const CeCase& k, DType dt) {
  return std::string(what) + " " + k.str() + " " + std::string(dtype_name(dt));
}

// The CPU statistics of one case (tp = 1 semantics per shard: no reductions between the ops).
struct CpuStats {
  Tensor row_max, sum_exp, target_logit, losses;
};

CpuStats cpu_stats(const CeData& d, const VocabShard& shard) {
  const std::int64_t n = d.targets.numel();
  CpuStats s{Tensor::empty({n}), Tensor::empty({n}), Tensor::empty({n}), Tensor::empty({n})};
  cpu_ops().cross_entropy_row_max(d.logits, shard, s.row_max);
  cpu_ops().cross_entropy_sums(d.logits, d.targets, shard, s.row_max, s.sum_exp, s.target_logit);
  cpu_ops().cross_entropy_losses(s.row_max, s.sum_exp, s.target_logit, s.losses);
  return s;
}

// One case in one logits dtype: host inputs, the CPU statistics, and the inputs on the GPU.
struct CeRun {
  CeData d;
  VocabShard shard;
  CpuStats s;
  Tensor g_logits, g_targets;
};

CeRun prepare(const CeCase& k, DType dt, std::uint32_t seed) {
  CeRun r{make_data(k, seed, dt == DType::kBF16), shard_of(k), {}, {}, {}};
  r.s = cpu_stats(r.d, r.shard);
  r.g_logits = to_gpu(r.d.logits, dt);
  r.g_targets = r.d.targets.to(gpu());
  return r;
}

TEST(GpuCrossEntropy, EachOpMatchesCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 10;
  for (const CeCase& k : kCases)
    for (DType dt : kFloatDtypes) {
      const auto& [d, shard, s, g_logits, g_targets] = prepare(k, dt, seed += 10);

      const Tensor g_max = gpu_rows(k.n);
      gpu_ops().cross_entropy_row_max(g_logits, shard, g_max);
      expect_close(g_max, s.row_max, 0.0, 0.0, label("row_max", k, dt));

      const Tensor g_sum = gpu_rows(k.n), g_tgt = gpu_rows(k.n);
      gpu_ops().cross_entropy_sums(g_logits, g_targets, shard, s.row_max.to(gpu()), g_sum, g_tgt);
      expect_close(g_sum, s.sum_exp, 0.0, kSumRtol, label("sum_exp", k, dt));
      expect_close(g_tgt, s.target_logit, 0.0, 0.0, label("target_logit", k, dt));

      const Tensor g_loss = gpu_rows(k.n);
      gpu_ops().cross_entropy_losses(s.row_max.to(gpu()), s.sum_exp.to(gpu()), s.target_logit.to(gpu()), g_loss);
      expect_close(g_loss, s.losses, kLossAtol, kLossRtol, label("losses", k, dt));

      Tensor dlogits = Tensor::empty({k.n, k.vl});
      cpu_ops().cross_entropy_backward(d.logits, d.targets, shard, s.row_max, s.sum_exp, kDloss, dlogits);
      const Tensor g_dlogits = gpu_empty({k.n, k.vl}, dt);
      gpu_ops().fill(g_dlogits, 5.0f);  // written, not accumulated; padding must be overwritten
      gpu_ops().cross_entropy_backward(g_logits, g_targets, shard, s.row_max.to(gpu()), s.sum_exp.to(gpu()), kDloss,
                                       g_dlogits);
      expect_close(g_dlogits, dlogits, kGradAtol, dt == DType::kBF16 ? kBf16Rtol : kGradRtol,
                   label("dlogits", k, dt));
      const Tensor back = to_host_f32(g_dlogits);
      for (std::int64_t r = 0; r < k.n; ++r)
        for (std::int64_t j = k.valid; j < k.vl; ++j)
          ASSERT_EQ(back.data<float>()[r * k.vl + j], 0.0f) << label("padding", k, dt) << " row " << r << " col " << j;
    }
}

// The forward ops chained on the GPU as VocabParallelHead chains them (tp = 1: no reductions).
TEST(GpuCrossEntropy, ChainedLossesMatchCpu) {
  TRIDENT_REQUIRE_GPU();
  std::uint32_t seed = 500;
  for (const CeCase& k : kCases)
    for (DType dt : kFloatDtypes) {
      const auto& [d, shard, s, g_logits, g_targets] = prepare(k, dt, seed += 10);
      const Tensor g_max = gpu_rows(k.n), g_sum = gpu_rows(k.n), g_tgt = gpu_rows(k.n), g_loss = gpu_rows(k.n);
      gpu_ops().cross_entropy_row_max(g_logits, shard, g_max);
      gpu_ops().cross_entropy_sums(g_logits, g_targets, shard, g_max, g_sum, g_tgt);
      gpu_ops().cross_entropy_losses(g_max, g_sum, g_tgt, g_loss);
      expect_close(g_loss, s.losses, kChainedLossAtol, 0.0, label("chained losses", k, dt));
    }
}

// A rank whose columns are all TP padding: max −inf, nothing summed, no target, zero gradient.
TEST(GpuCrossEntropy, AllPaddingShard) {
  TRIDENT_REQUIRE_GPU();
  const CeCase k{4, 16, 40, 0, 50};
  const VocabShard shard = shard_of(k);
  const CeData d = make_data(k, 3, false);
  for (DType dt : kFloatDtypes) {
    const Tensor g_logits = to_gpu(d.logits, dt), g_targets = d.targets.to(gpu());
    const Tensor g_max = gpu_rows(k.n);
    gpu_ops().cross_entropy_row_max(g_logits, shard, g_max);
    const Tensor max = g_max.to(Device::cpu());
    for (std::int64_t r = 0; r < k.n; ++r) EXPECT_EQ(max.data<float>()[r], -INFINITY) << "row " << r;

    // The global max comes from other ranks: finite.
    const Tensor global_max = gpu_rows(k.n), g_sum = gpu_rows(k.n), g_tgt = gpu_rows(k.n);
    gpu_ops().fill(global_max, 0.5f);
    gpu_ops().cross_entropy_sums(g_logits, g_targets, shard, global_max, g_sum, g_tgt);
    expect_close(g_sum, Tensor::zeros({k.n}), 0.0, 0.0, "sum_exp of an all-padding shard");
    expect_close(g_tgt, Tensor::zeros({k.n}), 0.0, 0.0, "target_logit of an all-padding shard");

    const Tensor g_dlogits = gpu_empty({k.n, k.vl}, dt), one = gpu_rows(k.n);
    gpu_ops().fill(one, 1.0f);
    gpu_ops().fill(g_dlogits, 5.0f);
    gpu_ops().cross_entropy_backward(g_logits, g_targets, shard, global_max, one, kDloss, g_dlogits);
    expect_close(g_dlogits, Tensor::zeros({k.n, k.vl}), 0.0, 0.0, "dlogits of an all-padding shard");
  }
}

TEST(GpuCrossEntropy, BadTargetsNameTheRow) {
  TRIDENT_REQUIRE_GPU();
  const CeCase k{6, 40, 10, 30, 50};
  const VocabShard shard = shard_of(k);
  const CeData d = make_data(k, 9, false);
  const Tensor g_logits = d.logits.to(gpu()), g_max = gpu_rows(k.n), g_sum = gpu_rows(k.n), g_tgt = gpu_rows(k.n);
  gpu_ops().cross_entropy_row_max(g_logits, shard, g_max);
  const Tensor good = d.targets.to(gpu());

  // Rows 3 and 4 are bad (one past the vocabulary, negative): the first bad row is reported.
  const Tensor bad = ids_tensor({1, 2, 3, 50, -2, 5}).to(gpu());
  expect_error([&] { gpu_ops().cross_entropy_sums(g_logits, bad, shard, g_max, g_sum, g_tgt); },
               "cross_entropy_sums: target 50 of row 3 is outside the vocabulary [0, 50)");
  expect_error([&] { gpu_ops().cross_entropy_sums(g_logits, ids_tensor({1, -7, 3, 4, 5, 6}).to(gpu()), shard, g_max,
                                                  g_sum, g_tgt); },
               "cross_entropy_sums: target -7 of row 1 is outside the vocabulary [0, 50)");
  // The check word is reset by every call: good targets pass again.
  EXPECT_NO_THROW(gpu_ops().cross_entropy_sums(g_logits, good, shard, g_max, g_sum, g_tgt));

  // Backward does not synchronise: its bad target is reported by the next cross_entropy_sums.
  const Tensor g_dlogits = gpu_empty({k.n, k.vl});
  EXPECT_NO_THROW(
      gpu_ops().cross_entropy_backward(g_logits, ids_tensor({1, 2, 77, 4, 5, 6}).to(gpu()), shard, g_max, g_sum,
                                       kDloss, g_dlogits));
  expect_error([&] { gpu_ops().cross_entropy_sums(g_logits, good, shard, g_max, g_sum, g_tgt); },
               "cross_entropy_backward (an earlier call on cuda:0, reported by the next cross_entropy_sums): "
               "target 77 of row 2 is outside the vocabulary");
  EXPECT_NO_THROW(gpu_ops().cross_entropy_sums(g_logits, good, shard, g_max, g_sum, g_tgt));
}

TEST(GpuCrossEntropy, RejectsBadOperands) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 3, vl = 8;
  const VocabShard shard{0, 8, 8};
  const Tensor logits = gpu_zeros({n, vl}), targets = gpu_zeros({n}, DType::kI32), rows = gpu_zeros({n});
  const Ops& ops = gpu_ops();
  expect_error([&] { ops.cross_entropy_row_max(Tensor::zeros({n, vl}), shard, rows); },
               "cross_entropy_row_max: logits is on cpu, but this op table runs on cuda:0");
  expect_error([&] { ops.cross_entropy_row_max(gpu_zeros({n, vl}, DType::kI32), shard, rows); },
               "cross_entropy_row_max: logits is i32; the CUDA op table takes f32 or bf16");
  expect_error([&] { ops.cross_entropy_row_max(logits, shard, gpu_zeros({n}, DType::kBF16)); },
               "cross_entropy_row_max: row_max is bf16, expected f32");
  expect_error([&] { ops.cross_entropy_row_max(logits, VocabShard{0, 9, 9}, rows); },
               "cross_entropy_row_max: shard.valid 9 must be in [0, 8]");
  expect_error([&] { ops.cross_entropy_row_max(logits, VocabShard{4, 8, 10}, rows); },
               "cross_entropy_row_max: shard [4, 12) does not lie inside the vocabulary [0, 10)");
  expect_error([&] { ops.cross_entropy_sums(logits, gpu_zeros({n}), shard, rows, rows, rows); },
               "cross_entropy_sums: targets is f32, expected i32");
  expect_error([&] { ops.cross_entropy_sums(logits, gpu_zeros({n + 1}, DType::kI32), shard, rows, rows, rows); },
               "cross_entropy_sums: targets [4] should hold one id per row (3 rows)");
  expect_error([&] { ops.cross_entropy_losses(rows, rows, rows, gpu_zeros({n + 1})); },
               "cross_entropy_losses: losses [4] should hold one value per row (3 rows)");
  expect_error([&] {
    ops.cross_entropy_backward(logits, targets, shard, rows, rows, 1.0f, gpu_zeros({n, vl}, DType::kBF16));
  },
               "cross_entropy_backward: dlogits is bf16 but logits is f32");
  expect_error([&] { ops.cross_entropy_backward(logits, targets, shard, rows, rows, 1.0f, gpu_zeros({n, vl + 1})); },
               "cross_entropy_backward: dlogits [3, 9] does not match logits [3, 8]");
}

}  // namespace
}  // namespace trident
