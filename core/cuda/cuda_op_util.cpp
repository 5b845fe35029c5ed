// Operand checks shared by the CudaOps implementations (declarations and the header-only dispatch
// helpers in core/cuda/cuda_op_util.h).
#include "core/cuda/cuda_op_util.h"

#include <climits>

#include "core/error.h"

namespace trident {

void cuda_check_float_operand(const char* op, const char* what, const Tensor& t, int device) {
  cuda_check_on_device(op, what, t, device);
  cuda_check_float(op, what, t);
}

void cuda_check_same_dtype(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  TRIDENT_CHECK(a.dtype() == b.dtype(), op, ": ", b_name, " is ", dtype_name(b.dtype()), " but ", a_name, " is ",
                dtype_name(a.dtype()), "; they must share a dtype (convert() one of them first)");
}

void cuda_check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  TRIDENT_CHECK(a.shape() == b.shape(), op, ": ", b_name, " ", b.shape().str(), " does not match ", a_name, " ",
                a.shape().str());
}

void cuda_check_like(const char* op, const char* ref_name, const Tensor& ref, const char* what, const Tensor& t,
                     int device) {
  cuda_check_float_operand(op, what, t, device);
  cuda_check_same_dtype(op, ref_name, ref, what, t);
  cuda_check_same_shape(op, ref_name, ref, what, t);
}

int cuda_check_row_length(const char* op, std::int64_t c) {
  TRIDENT_CHECK(c <= INT_MAX, op, ": rows of ", c, " elements are too long for the CUDA kernels (at most ", INT_MAX,
                ")");
  return static_cast<int>(c);
}

void cuda_check_grid_rows(const char* op, std::int64_t n, int rows_per_block, const char* what) {
  TRIDENT_CHECK(n / rows_per_block < INT_MAX, op, ": ", n, " ", what,
                " are more than one kernel launch covers; split the batch");
}

}  // namespace trident
