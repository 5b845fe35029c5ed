// CudaOps embedding lookup over a row range of a (possibly vocab-sharded) table: checks operands,
// then dispatches on the table/out (forward) or dout (backward) dtype to the kernels of
// core/cuda/embedding_kernels.cu. As on the CPU table (core/cpu/cpu_embedding.cpp), ids outside
// [row_begin, row_begin + R) — another rank's rows, or ids outside the vocabulary altogether —
// are not errors: they give zero rows forward and no gradient backward, so ids are never read on
// the host.
#include <cuda_bf16.h>

#include <cstdint>

#include "core/cuda/cuda_op_util.h"
#include "core/cuda/embedding_kernels.h"
#include "core/error.h"

namespace trident {

namespace {

struct EmbDims {
  std::int64_t n;  // ids
  int c;           // columns of a row
};

// ids i32 [N], a table-like [R, C] and rows [N, C] (any rank with last dim C), all on `device`.
EmbDims check_embedding(const char* op, int device, const Tensor& ids, const char* tname, const Tensor& table,
                        const char* rname, const Tensor& rows) {
  cuda_check_on_device(op, "ids", ids, device);
  cuda_check_on_device(op, tname, table, device);
  cuda_check_on_device(op, rname, rows, device);
  cuda_check_dtype(op, "ids", ids, DType::kI32);
  TRIDENT_CHECK(table.ndim() == 2, op, ": ", tname, " must be 2-D [R, C], got ", table.shape().str());
  const std::int64_t c = table.dim(1);
  TRIDENT_CHECK(rows.ndim() >= 1 && rows.dim(-1) == c && rows.numel() == ids.numel() * c, op, ": ", rname, " ",
                rows.shape().str(), " should hold one row of ", c, " values per id (ids ", ids.shape().str(), ", ",
                tname, " ", table.shape().str(), ")");
  const int row_length = cuda_check_row_length(op, c);
  const std::int64_t n = ids.numel();
  cuda_check_grid_rows(op, n, 8, "ids");  // one warp per token, 8 tokens per block
  return {n, row_length};
}

}  // namespace

void CudaOps::embedding_forward(const Tensor& ids, const Tensor& table, std::int64_t row_begin,
                                const Tensor& out) const {
  const char* op = "embedding_forward";
  const EmbDims d = check_embedding(op, device_, ids, "table", table, "out", out);
  cuda_check_float(op, "table", table);
  cuda_check_float(op, "out", out);
  CudaDeviceGuard guard(device_);
  dispatch_float_pair(table.dtype(), out.dtype(), [&](auto tt, auto ot) {
    using T = typename decltype(tt)::type;
    using O = typename decltype(ot)::type;
    cuda_kernels::launch_embedding_forward<T, O>(ids.data<std::int32_t>(), kernel_ptr<T>(table), table.dim(0),
                                                 row_begin, d.n, d.c, kernel_ptr<O>(out), stream());
  });
}

void CudaOps::embedding_backward(const Tensor& dout, const Tensor& ids, std::int64_t row_begin,
                                 const Tensor& dtable) const {
  const char* op = "embedding_backward";
  const EmbDims d = check_embedding(op, device_, ids, "dtable", dtable, "dout", dout);
  cuda_check_float(op, "dout", dout);
  cuda_check_dtype(op, "dtable", dtable, DType::kF32);  // parameter gradients are f32, accumulated
  CudaDeviceGuard guard(device_);
  dispatch_float(dout.dtype(), [&](auto dt) {
    using D = typename decltype(dt)::type;
    cuda_kernels::launch_embedding_backward<D>(kernel_ptr<D>(dout), ids.data<std::int32_t>(), dtable.dim(0),
                                               row_begin, d.n, d.c, dtable.data<float>(), stream());
  });
}

}  // namespace trident
