// Argument checks and operation descriptions shared by the communicator backends, so MPI and NCCL
// reject the same mistakes with the same words, e.g. "all_gather of 3 f32 on communicator 'tp'
// (rank 1 of 4): out has 10 elements but needs size*in = 4*3 = 12 (...)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "parallel/communicator.h"

namespace trident::comm {

// What an operation is, for messages: "all_reduce of 1024 f32", "recv of 8 bf16 from rank 1 (tag 3)".
struct OpDesc {
  const char* op = "";
  std::int64_t count = 0;
  DType dtype = DType::kF32;
  const char* peer_word = nullptr;  // "to", "from", "from root"; null: no peer
  int peer = -1;
  int tag = -1;  // printed when >= 0 (MPI); NCCL has no tags

  std::string str() const;
};

// "communicator 'tp' (rank 1 of 4)": where an operation ran, in every message of both backends.
std::string where(const std::string& name, int rank, int size);

// "1.5 KiB", "6.0 MiB": a byte count for people.
std::string format_bytes(std::size_t bytes);

// NVTX range of one operation: "tp all_reduce 6.0 MiB", "pp send 512.0 KiB to 3".
std::string range_name(const std::string& group, const OpDesc& op, std::size_t bytes);

// True when a and b share at least one byte (both non-empty, same address space).
bool overlap(const Tensor& a, const Tensor& b);

// `t` is defined; `what` names it in the message ("the tensor", "in", "out").
void check_defined(const Tensor& t, const char* what, const OpDesc& op, const std::string& where);

// all_gather: equal dtypes, out.numel() == size * in.numel(), and in either is this rank's slot of
// out or does not overlap it. Returns true when gathering in place (in is that slot).
bool check_all_gather(const Tensor& in, const Tensor& out, int rank, int size, const OpDesc& op,
                      const std::string& where);

// reduce_scatter: equal dtypes, in.numel() == size * out.numel(), and out either is this rank's slot
// of in or does not overlap it. Returns true when reducing in place (out is that slot).
bool check_reduce_scatter(const Tensor& in, const Tensor& out, int rank, int size, const OpDesc& op,
                          const std::string& where);

// root / peer in [0, size).
void check_root(int root, int size, const OpDesc& op, const std::string& where);
void check_peer(int peer, int size, const OpDesc& op, const std::string& where);

// kAvg of i32 would truncate: rejected by every backend.
void check_reduce_op(DType dtype, ReduceOp op, const OpDesc& desc, const std::string& where);

}  // namespace trident::comm
