#include "core/cuda/cuda_ops.h"

#include "core/error.h"

namespace trident {

void cuda_check_on_device(const char* op, const char* what, const Tensor& t, int device) {
  TRIDENT_CHECK(t.defined(), op, ": ", what, " is undefined");
  TRIDENT_CHECK(t.device() == Device::cuda(device), op, ": ", what, " is on ", t.device().str(),
                ", but this op table runs on cuda:", device, " (move it with Tensor::to)");
}

void cuda_check_float(const char* op, const char* what, const Tensor& t) {
  TRIDENT_CHECK(t.dtype() == DType::kF32 || t.dtype() == DType::kBF16, op, ": ", what, " is ",
                dtype_name(t.dtype()), "; the CUDA op table takes f32 or bf16 here");
}

void cuda_check_dtype(const char* op, const char* what, const Tensor& t, DType expected) {
  TRIDENT_CHECK(t.dtype() == expected, op, ": ", what, " is ", dtype_name(t.dtype()), ", expected ",
                dtype_name(expected));
}

}  // namespace trident
