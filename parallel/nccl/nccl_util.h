// Small helpers shared by the NCCL communicator's source files: dtype and reduction mapping, the
// device check of tensors, NVTX ranges.
#pragma once

#include <nccl.h>

#include <cstddef>
#include <string>

#include "core/error.h"
#include "core/nvtx.h"
#include "core/tensor.h"
#include "parallel/comm_checks.h"
#include "parallel/communicator.h"

namespace trident::nccl {

inline ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::kF32: return ncclFloat32;
    case DType::kBF16: return ncclBfloat16;
    case DType::kI32: return ncclInt32;
    case DType::kF64: return ncclFloat64;
  }
  TRIDENT_FAIL("no NCCL type for dtype ", dtype_name(t));
}

inline ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;  // NCCL divides by the number of ranks itself
    case ReduceOp::kMax: return ncclMax;
  }
  TRIDENT_FAIL("no NCCL reduction for ", reduce_op_name(op));
}

inline std::size_t count_of(const Tensor& t) { return static_cast<std::size_t>(t.numel()); }

// Tensors must live on the communicator's GPU: NCCL reads and writes device memory only.
inline void check_device_tensor(const Tensor& t, const char* what, const comm::OpDesc& op, const std::string& where,
                                int device) {
  comm::check_defined(t, what, op, where);
  TRIDENT_CHECK(t.device() == Device::cuda(device), op.op, " on ", where, ": ", what, " is on ", t.device().str(),
                " but this NCCL communicator moves tensors on cuda:", device, " only; copy it with .to(Device::cuda(",
                device, ")), or use the MPI backend (comm = \"mpi\") for host tensors");
}

// The NVTX range of one operation: "tp all_reduce 6.0 MiB".
inline NvtxRange comm_range(const std::string& group, const comm::OpDesc& op, std::size_t bytes) {
  return NvtxRange(comm::range_name(group, op, bytes), NvtxColor::kCommunication);
}

}  // namespace trident::nccl
