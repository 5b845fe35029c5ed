// Argument checks shared by the CPU kernels, so every op rejects bad input with a message that
// names the op, the argument and its shape (internal to core/cpu/).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "core/tensor.h"

namespace trident::cpu {

// A defined host tensor of dtype `want`.
inline void check_tensor(const char* op, const char* name, const Tensor& t, DType want) {
  TRIDENT_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
  TRIDENT_CHECK(t.device().is_cpu(), op, ": ", name, " ", t.shape().str(), " is on ", t.device().str(),
                ", but the CPU op table only handles host tensors");
  TRIDENT_CHECK(t.dtype() == want, op, ": ", name, " ", t.shape().str(), " is ", dtype_name(t.dtype()), ", expected ",
                dtype_name(want), (want == DType::kF32 ? " (the CPU table computes in f32; convert() first)" : ""));
}
inline void check_f32(const char* op, const char* name, const Tensor& t) { check_tensor(op, name, t, DType::kF32); }
inline void check_i32(const char* op, const char* name, const Tensor& t) { check_tensor(op, name, t, DType::kI32); }

inline void check_same_shape(const char* op, const char* an, const Tensor& a, const char* bn, const Tensor& b) {
  TRIDENT_CHECK(a.shape() == b.shape(), op, ": ", bn, " ", b.shape().str(), " does not match ", an, " ",
                a.shape().str());
}

// Last extent of an [N, C]-style tensor (rank >= 1).
inline std::int64_t last_dim(const char* op, const char* name, const Tensor& t) {
  TRIDENT_CHECK(t.ndim() >= 1, op, ": ", name, " must have at least one dim, got a scalar");
  return t.dim(-1);
}

}  // namespace trident::cpu
