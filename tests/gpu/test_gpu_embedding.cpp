// CUDA embedding lookup against the CPU table: forward for every table/out dtype pairing and
// backward for f32 and bf16 dout, row lengths C = 1, 7 (scalar kernels), 768, 1600 (vectorised),
// shards starting at row 0 and further in, ids outside the shard (another rank's, negative, past
// the vocabulary: zero rows and no gradient, as on the CPU), repeated ids, accumulation, and bad
// operands.
#include <gtest/gtest.h>

#include <algorithm>
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

const std::int64_t kColumns[] = {1, 7, 768, 1600};

// n ids for a shard of `rows` rows starting at row_begin: mostly inside the shard, some just
// outside on either side, some negative or far past any vocabulary.
Tensor shard_ids(std::int64_t n, std::int64_t rows, std::int64_t row_begin, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::int64_t> inside(row_begin, row_begin + rows - 1);
  const std::vector<std::int64_t> outside = {row_begin - 1, row_begin + rows, -3, 1 << 30};
  std::vector<std::int32_t> ids;
  for (std::int64_t i = 0; i < n; ++i)
    ids.push_back(static_cast<std::int32_t>(i % 5 == 4 ? outside[static_cast<std::size_t>(i / 5) % outside.size()]
                                                       : inside(gen)));
  return ids_tensor(ids);
}

std::string label(const char* what, std::int64_t c, std::int64_t row_begin, DType a, DType b) {
  return std::string(what) + " C=" + std::to_string(c) + " row_begin=" + std::to_string(row_begin) + " " +
         std::string(dtype_name(a)) + " -> " + std::string(dtype_name(b));
}

// Forward copies rows (through f32, exact for bf16-exact values) or writes zeros: exact.
TEST(GpuEmbedding, ForwardMatchesCpuExactly) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 37, rows = 50;
  std::uint32_t seed = 1;
  for (std::int64_t c : kColumns)
    for (std::int64_t row_begin : {std::int64_t{0}, std::int64_t{20}})
      for (DType td : kFloatDtypes)
        for (DType od : kFloatDtypes) {
          const bool bf16 = td == DType::kBF16 || od == DType::kBF16;
          const Tensor table = random_host({rows, c}, ++seed, -1.0f, 1.0f, bf16);
          const Tensor ids = shard_ids(n, rows, row_begin, ++seed);
          Tensor out = Tensor::empty({n, c});
          cpu_ops().embedding_forward(ids, table, row_begin, out);

          const Tensor g_out = gpu_empty({n, c}, od);
          gpu_ops().fill(g_out, 9.0f);  // zero rows must be written
          gpu_ops().embedding_forward(ids.to(gpu()), to_gpu(table, td), row_begin, g_out);
          expect_close(g_out, out, 0.0, 0.0, label("out", c, row_begin, td, od));
        }
}

// dtable starts non-zero and the op runs twice. Each f32 atomic addition errs by at most
// 2^-24·|partial sum| (≤ 6e-8 · ~30 here), in an order that differs from the CPU's, so the
// tolerance is 2e-6 per addition into the busiest row.
TEST(GpuEmbedding, BackwardAccumulatesRepeatedIdsLikeCpu) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 37, rows = 10;  // ~3 tokens per row: repeated ids everywhere
  std::uint32_t seed = 100;
  for (std::int64_t c : kColumns)
    for (std::int64_t row_begin : {std::int64_t{0}, std::int64_t{20}})
      for (DType dd : kFloatDtypes) {
        const Tensor dout = random_host({n, c}, ++seed, -1.0f, 1.0f, dd == DType::kBF16);
        const Tensor ids = shard_ids(n, rows, row_begin, ++seed);
        const Tensor dtable0 = random_host({rows, c}, ++seed);
        const Tensor dtable = dtable0.clone();
        const Tensor g_dtable = to_gpu(dtable0, DType::kF32);
        const Tensor g_dout = to_gpu(dout, dd), g_ids = ids.to(gpu());
        std::vector<int> per_row(static_cast<std::size_t>(rows), 0);
        for (std::int64_t i = 0; i < n; ++i) {
          const std::int64_t r = ids.data<std::int32_t>()[i] - row_begin;
          if (r >= 0 && r < rows) ++per_row[static_cast<std::size_t>(r)];
        }
        int busiest = 0;
        for (int k : per_row) busiest = std::max(busiest, k);
        for (int call = 0; call < 2; ++call) {
          cpu_ops().embedding_backward(dout, ids, row_begin, dtable);
          gpu_ops().embedding_backward(g_dout, g_ids, row_begin, g_dtable);
        }
        expect_close(g_dtable, dtable, 2e-6 * 2 * busiest, 0.0, label("dtable", c, row_begin, dd, DType::kF32));
      }
}

// Every token hits the same row: 257 concurrent atomic additions per element and call.
TEST(GpuEmbedding, BackwardSumsManyDuplicates) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 257, rows = 3, c = 768, row_begin = 5;
  const Tensor dout = random_host({n, c}, 7);
  const Tensor ids = ids_tensor(std::vector<std::int32_t>(static_cast<std::size_t>(n), 6));
  const Tensor dtable = Tensor::zeros({rows, c});
  const Tensor g_dtable = gpu_zeros({rows, c});
  for (int call = 0; call < 2; ++call) {
    cpu_ops().embedding_backward(dout, ids, row_begin, dtable);
    gpu_ops().embedding_backward(dout.to(gpu()), ids.to(gpu()), row_begin, g_dtable);
  }
  // Same bound as above: 2e-6 per addition, 2 · 257 additions into row 1.
  expect_close(g_dtable, dtable, 2e-6 * 2 * n, 0.0, "dtable, one row hit by every token");
}

TEST(GpuEmbedding, RejectsBadOperands) {
  TRIDENT_REQUIRE_GPU();
  const std::int64_t n = 4, rows = 6, c = 8;
  const Tensor ids = gpu_zeros({n}, DType::kI32), table = gpu_zeros({rows, c}), out = gpu_zeros({n, c});
  const Ops& ops = gpu_ops();
  expect_error([&] { ops.embedding_forward(Tensor::zeros({n}, DType::kI32), table, 0, out); },
               "embedding_forward: ids is on cpu, but this op table runs on cuda:0");
  expect_error([&] { ops.embedding_forward(gpu_zeros({n}), table, 0, out); },
               "embedding_forward: ids is f32, expected i32");
  expect_error([&] { ops.embedding_forward(ids, gpu_zeros({rows, c}, DType::kI32), 0, out); },
               "embedding_forward: table is i32; the CUDA op table takes f32 or bf16");
  expect_error([&] { ops.embedding_forward(ids, gpu_zeros({rows * c}), 0, out); },
               "embedding_forward: table must be 2-D [R, C], got [48]");
  expect_error([&] { ops.embedding_forward(ids, table, 0, gpu_zeros({n, c + 1})); },
               "embedding_forward: out [4, 9] should hold one row of 8 values per id");
  expect_error([&] { ops.embedding_backward(out, ids, 0, gpu_zeros({rows, c}, DType::kBF16)); },
               "embedding_backward: dtable is bf16, expected f32");
  expect_error([&] { ops.embedding_backward(Tensor::zeros({n, c}), ids, 0, table); },
               "embedding_backward: dout is on cpu");
  expect_error([&] { ops.embedding_backward(gpu_zeros({n + 1, c}), ids, 0, table); },
               "embedding_backward: dout [5, 8] should hold one row of 8 values per id");
}

}  // namespace
}  // namespace trident
