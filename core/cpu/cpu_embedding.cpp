// Embedding lookup over rows [row_begin, row_begin + R) of a (possibly vocab-sharded) table [R, C].
// Ids outside this shard give zero rows (another rank holds them; the TP all-reduce sums shards).
#include <algorithm>
#include <cstring>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"

namespace trident {

namespace {

// Checks table-like [R, C] against ids [N] and rows [N, C]; returns C.
std::int64_t check_embedding(const char* op, const Tensor& ids, const char* tname, const Tensor& table,
                             const char* rname, const Tensor& rows) {
  cpu::check_i32(op, "ids", ids);
  cpu::check_f32(op, tname, table);
  cpu::check_f32(op, rname, rows);
  TRIDENT_CHECK(table.ndim() == 2, op, ": ", tname, " must be 2-D [R, C], got ", table.shape().str());
  const std::int64_t c = table.dim(1);
  TRIDENT_CHECK(rows.ndim() >= 1 && rows.dim(-1) == c && rows.numel() == ids.numel() * c, op, ": ", rname, " ",
                rows.shape().str(), " should hold one row of ", c, " values per id (ids ", ids.shape().str(), ", ",
                tname, " ", table.shape().str(), ")");
  return c;
}

}  // namespace

// out[n, :] = table[ids[n] - row_begin, :] if the id is in this shard, else 0.
void CpuOps::embedding_forward(const Tensor& ids, const Tensor& table, std::int64_t row_begin,
                               const Tensor& out) const {
  const std::int64_t c = check_embedding("embedding_forward", ids, "table", table, "out", out);
  const std::int64_t rows = table.dim(0), n = ids.numel();
  const std::int32_t* id = ids.data<std::int32_t>();
  const float* t = table.data<float>();
  float* o = out.data<float>();
  cpu::parallel_for(n, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::int64_t r = static_cast<std::int64_t>(id[i]) - row_begin;
      if (r >= 0 && r < rows)
        std::memcpy(o + i * c, t + r * c, static_cast<std::size_t>(c) * sizeof(float));
      else
        std::fill_n(o + i * c, c, 0.0f);
    }
  });
}

// dtable[ids[n] - row_begin, :] += dout[n, :] for ids in this shard (repeated ids accumulate).
void CpuOps::embedding_backward(const Tensor& dout, const Tensor& ids, std::int64_t row_begin,
                                const Tensor& dtable) const {
  const std::int64_t c = check_embedding("embedding_backward", ids, "dtable", dtable, "dout", dout);
  const std::int64_t rows = dtable.dim(0), n = ids.numel();
  const std::int32_t* id = ids.data<std::int32_t>();
  const float* d = dout.data<float>();
  float* t = dtable.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r = static_cast<std::int64_t>(id[i]) - row_begin;
    if (r < 0 || r >= rows) continue;
    float* dst = t + r * c;
    const float* src = d + i * c;
    for (std::int64_t j = 0; j < c; ++j) dst[j] += src[j];
  }
}

}  // namespace trident
