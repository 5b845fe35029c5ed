// Elementwise ops, whole-tensor reductions, bias and GELU for the CUDA op table: argument checks
// and dtype dispatch to the launchers of pointwise_kernels.cu and reduce_kernels.cu.
#include <cuda_bf16.h>

#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_op_util.h"
#include "core/cuda/pointwise_kernels.h"
#include "core/cuda/reduce_kernels.h"
#include "core/error.h"

namespace trident {

namespace {

// Rows of x viewed as [rows, C] where bias is [C] and C is x's last dim (as the CPU table).
std::int64_t rows_for_bias(const char* op, const char* xname, const Tensor& x, const char* bname,
                           const Tensor& bias) {
  TRIDENT_CHECK(bias.ndim() == 1, op, ": ", bname, " must be 1-D [C], got ", bias.shape().str());
  TRIDENT_CHECK(x.ndim() >= 1, op, ": ", xname, " must have at least one dim, got a scalar");
  const std::int64_t c = x.dim(-1);
  TRIDENT_CHECK(bias.dim(0) == c, op, ": ", bname, " ", bias.shape().str(), " does not match ", xname,
                "'s last dim ", c, " (", xname, " is ", x.shape().str(), ")");
  return c == 0 ? 0 : x.numel() / c;
}

}  // namespace

// out = a + b; a, b, out share shape and dtype; out may alias a or b.
void CudaOps::add(const Tensor& a, const Tensor& b, const Tensor& out) const {
  cuda_check_float_operand("add", "a", a, device_);
  cuda_check_like("add", "a", a, "b", b, device_);
  cuda_check_like("add", "a", a, "out", out, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_add(kernel_ptr<const T>(a), kernel_ptr<const T>(b), kernel_ptr<T>(out), a.numel(), stream());
  });
}

// y += alpha * x; x and y each f32 or bf16 (e.g. a bf16 gradient into an f32 accumulator).
void CudaOps::axpy(float alpha, const Tensor& x, const Tensor& y) const {
  cuda_check_float_operand("axpy", "x", x, device_);
  cuda_check_float_operand("axpy", "y", y, device_);
  cuda_check_same_shape("axpy", "x", x, "y", y);
  CudaDeviceGuard guard(device_);
  dispatch_float_pair(x.dtype(), y.dtype(), [&](auto xtag, auto ytag) {
    using X = typename decltype(xtag)::type;
    using Y = typename decltype(ytag)::type;
    launch_axpy(alpha, kernel_ptr<const X>(x), kernel_ptr<Y>(y), x.numel(), stream());
  });
}

// x *= alpha
void CudaOps::scale(const Tensor& x, float alpha) const {
  cuda_check_float_operand("scale", "x", x, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_scale(kernel_ptr<T>(x), alpha, x.numel(), stream());
  });
}

namespace {

// Σ x or Σ x² on the device, the double result copied back (the one host sync of these ops).
double device_sum(const CudaOps& ops, const char* op, const Tensor& x, bool square) {
  cuda_check_float_operand(op, "x", x, ops.device().index);
  if (x.numel() == 0) return 0.0;
  CudaDeviceGuard guard(ops.device().index);
  // Scratch for the block partials and the result, as f32 storage reinterpreted as doubles (the
  // allocator's blocks are 256-byte aligned, and a fresh tensor starts at its block).
  const Tensor scratch = Tensor::empty({2 * sum_workspace_doubles()}, DType::kF32, ops.device());
  auto* workspace = static_cast<double*>(scratch.raw());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_sum(kernel_ptr<const T>(x), x.numel(), square, workspace, ops.stream());
  });
  double result = 0.0;
  TRIDENT_CUDA_CHECK(
      cudaMemcpyAsync(&result, sum_result_slot(workspace), sizeof result, cudaMemcpyDeviceToHost, ops.stream()));
  stream_synchronize(ops.stream());
  return result;
}

}  // namespace

double CudaOps::sum(const Tensor& x) const { return device_sum(*this, "sum", x, false); }

double CudaOps::sum_squares(const Tensor& x) const { return device_sum(*this, "sum_squares", x, true); }

// x[N, C] += bias[C]; x and bias each f32 or bf16 (also out[B, S*C] += wpe[S*C]).
void CudaOps::bias_add(const Tensor& x, const Tensor& bias) const {
  cuda_check_float_operand("bias_add", "x", x, device_);
  cuda_check_float_operand("bias_add", "bias", bias, device_);
  const std::int64_t rows = rows_for_bias("bias_add", "x", x, "bias", bias);
  const std::int64_t cols = bias.dim(0);
  if (rows == 0) return;
  CudaDeviceGuard guard(device_);
  dispatch_float_pair(x.dtype(), bias.dtype(), [&](auto xtag, auto btag) {
    using X = typename decltype(xtag)::type;
    using B = typename decltype(btag)::type;
    launch_bias_add(kernel_ptr<X>(x), kernel_ptr<const B>(bias), rows, cols, stream());
  });
}

// dbias[C] (f32) += Σ_n dout[n, C] (f32 or bf16): a deterministic two-pass column reduction.
void CudaOps::bias_backward(const Tensor& dout, const Tensor& dbias) const {
  cuda_check_float_operand("bias_backward", "dout", dout, device_);
  cuda_check_on_device("bias_backward", "dbias", dbias, device_);
  cuda_check_dtype("bias_backward", "dbias (a parameter gradient, accumulated in f32)", dbias, DType::kF32);
  const std::int64_t rows = rows_for_bias("bias_backward", "dout", dout, "dbias", dbias);
  const std::int64_t cols = dbias.dim(0);
  if (rows == 0 || cols == 0) return;
  CudaDeviceGuard guard(device_);
  const Tensor partials = Tensor::empty({bias_backward_splits(rows, cols), cols}, DType::kF32, device());
  dispatch_float(dout.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_bias_backward(kernel_ptr<const T>(dout), rows, cols, partials.data<float>(), dbias.data<float>(), stream());
  });
}

// out = gelu(x), tanh form; x and out share dtype and shape.
void CudaOps::gelu_forward(const Tensor& x, const Tensor& out) const {
  cuda_check_float_operand("gelu_forward", "x", x, device_);
  cuda_check_like("gelu_forward", "x", x, "out", out, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_gelu_forward(kernel_ptr<const T>(x), kernel_ptr<T>(out), x.numel(), stream());
  });
}

// dx = dout · gelu'(x); dout, x, dx share dtype and shape.
void CudaOps::gelu_backward(const Tensor& dout, const Tensor& x, const Tensor& dx) const {
  cuda_check_float_operand("gelu_backward", "x", x, device_);
  cuda_check_like("gelu_backward", "x", x, "dout", dout, device_);
  cuda_check_like("gelu_backward", "x", x, "dx", dx, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_gelu_backward(kernel_ptr<const T>(dout), kernel_ptr<const T>(x), kernel_ptr<T>(dx), x.numel(), stream());
  });
}

}  // namespace trident
