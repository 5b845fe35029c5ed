// Host-side helpers shared by the CudaOps implementations (core/cuda/cuda_*.cpp): dispatch from a
// tensor's f32/bf16 dtype to the kernels' element type, typed device pointers for the raw-pointer
// launchers, and operand checks several ops share (definitions in core/cuda/cuda_op_util.cpp).
// The single-operand checks (cuda_check_on_device, cuda_check_float, cuda_check_dtype) are
// declared in core/cuda/cuda_ops.h.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "core/cuda/cuda_ops.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace trident {

static_assert(sizeof(bf16) == sizeof(__nv_bfloat16) && alignof(bf16) == alignof(__nv_bfloat16),
              "host bf16 and __nv_bfloat16 must share a layout");

// Calls f(std::type_identity<E>{}) with E the kernels' element type for `dtype`: float for f32,
// __nv_bfloat16 for bf16. The caller has checked the dtype (cuda_check_float).
template <typename F>
void dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::kF32) {
    f(std::type_identity<float>{});
  } else {
    f(std::type_identity<__nv_bfloat16>{});
  }
}

// The same for two operands whose dtypes vary independently (activations and weights, x and y of
// axpy): f(std::type_identity<A>{}, std::type_identity<B>{}) for the four f32/bf16 pairings.
template <typename F>
void dispatch_float_pair(DType a, DType b, F&& f) {
  dispatch_float(a, [&](auto at) { dispatch_float(b, [&](auto bt) { f(at, bt); }); });
}

// A tensor's device pointer as the kernels' element type T: float, __nv_bfloat16 or std::int32_t,
// const or not. Throws if the tensor's dtype is not T's.
template <typename T>
T* kernel_ptr(const Tensor& t) {
  using E = std::remove_const_t<T>;
  if constexpr (std::is_same_v<E, __nv_bfloat16>) {
    return reinterpret_cast<T*>(t.data<bf16>());
  } else {
    return t.data<E>();
  }
}

// On this op table's GPU and f32 or bf16.
void cuda_check_float_operand(const char* op, const char* what, const Tensor& t, int device);

// b has a's dtype / shape; the messages name both operands ("b is bf16 but a is f32").
void cuda_check_same_dtype(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b);
void cuda_check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b);

// An operand that must look like an already-checked f32/bf16 reference (an output like its input,
// dout like x): on this GPU, f32 or bf16, with ref's dtype and shape.
void cuda_check_like(const char* op, const char* ref_name, const Tensor& ref, const char* what, const Tensor& t,
                     int device);

// Limits of the row-wise kernels: a row length c they index with int (returned as int), and n rows
// (what: "rows", "ids") launched rows_per_block to a block along gridDim.x (< 2^31 blocks).
int cuda_check_row_length(const char* op, std::int64_t c);
void cuda_check_grid_rows(const char* op, std::int64_t n, int rows_per_block, const char* what);

}  // namespace trident
