// Shape and extent checks of the GEMM ops, shared by every op table (core/cpu/cpu_gemm.cpp,
// core/cuda/cuda_gemm.cpp) so that both reject a bad GEMM with the same message. Device and dtype
// checks stay with each table (they differ); call them first.
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"

namespace trident {

// gemm's operands as matrices plus the derived extents: a2 is [M, K] ([K, M] if trans_a), b2 is
// [K, N] ([N, K] if trans_b), c2 is [M, N]. A rank > 2 operand is its as_2d() view.
struct GemmMatrices {
  Tensor a2, b2, c2;
  std::int64_t m = 0, n = 0, k = 0;
};

// gemm: each operand has at least one dim, op(a) and op(b) share K, and c is [M, N].
GemmMatrices check_gemm(bool trans_a, bool trans_b, const Tensor& a, const Tensor& b, const Tensor& c);

// gemm_strided_batched: no extent of s is negative. Returns false when there is nothing to compute
// (s.batch, s.m or s.n is 0), without looking at the operands.
bool check_gemm_batch_extents(const GemmBatch& s);

// gemm_strided_batched: batch element `batch - 1` of operand `name` ("a", "b" or "c"), a rows x cols
// matrix with leading dim ld, fits in t.
void check_gemm_batch_operand(const char* name, const Tensor& t, std::int64_t batch, std::int64_t stride,
                              std::int64_t rows, std::int64_t cols, std::int64_t ld);

}  // namespace trident
