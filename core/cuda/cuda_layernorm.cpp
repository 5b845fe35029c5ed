// CudaOps LayerNorm: checks operands (device, dtype, shape), then dispatches on the activation
// dtype X (f32/bf16; x, out, dout, dx share it) and the weight dtype W (f32/bf16; weight and bias
// share it) to the kernels of core/cuda/layernorm_kernels.cu. Statistics and parameter gradients
// are f32; see core/cpu/cpu_layernorm.cpp for the reference these match.
#include <cuda_bf16.h>

#include <cstdint>

#include "core/cuda/cuda_op_util.h"
#include "core/cuda/layernorm_kernels.h"
#include "core/error.h"

namespace trident {

namespace {

struct LnDims {
  std::int64_t n;
  int c;
};

// x [.., C] (f32/bf16) against a [C] parameter (f32) and the f32 [N] statistics, all on `device`.
LnDims check_ln(const char* op, int device, const Tensor& x, const char* pname, const Tensor& param,
                const Tensor& mean, const Tensor& rstd) {
  cuda_check_on_device(op, "x", x, device);
  cuda_check_on_device(op, pname, param, device);
  cuda_check_on_device(op, "mean", mean, device);
  cuda_check_on_device(op, "rstd", rstd, device);
  cuda_check_float(op, "x", x);
  cuda_check_dtype(op, "mean", mean, DType::kF32);
  cuda_check_dtype(op, "rstd", rstd, DType::kF32);
  TRIDENT_CHECK(x.ndim() >= 1, op, ": x must have at least one dim, got a scalar");
  const std::int64_t c = x.dim(-1);
  TRIDENT_CHECK(param.ndim() == 1 && param.dim(0) == c, op, ": ", pname, " ", param.shape().str(),
                " does not match x's last dim ", c, " (x is ", x.shape().str(), ")");
  const int row_length = cuda_check_row_length(op, c);
  const std::int64_t n = c == 0 ? 0 : x.numel() / c;
  TRIDENT_CHECK(mean.numel() == n && rstd.numel() == n, op, ": mean ", mean.shape().str(), " and rstd ",
                rstd.shape().str(), " must hold one value per row of x ", x.shape().str(), " (", n, " rows)");
  cuda_check_grid_rows(op, n, 8, "rows");  // one warp per row, 8 rows per block
  return {n, row_length};
}

}  // namespace

void CudaOps::layernorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                const Tensor& out, const Tensor& mean, const Tensor& rstd) const {
  const char* op = "layernorm_forward";
  const LnDims d = check_ln(op, device_, x, "weight", weight, mean, rstd);
  cuda_check_float(op, "weight", weight);
  cuda_check_like(op, "weight", weight, "bias", bias, device_);
  cuda_check_like(op, "x", x, "out", out, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float_pair(x.dtype(), weight.dtype(), [&](auto xt, auto wt) {
    using X = typename decltype(xt)::type;
    using W = typename decltype(wt)::type;
    cuda_kernels::launch_layernorm_forward<X, W>(kernel_ptr<X>(x), kernel_ptr<W>(weight), kernel_ptr<W>(bias), eps,
                                                 d.n, d.c, kernel_ptr<X>(out), mean.data<float>(),
                                                 rstd.data<float>(), stream());
  });
}

void CudaOps::layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                       const Tensor& mean, const Tensor& rstd, const Tensor& dx) const {
  const char* op = "layernorm_backward_input";
  const LnDims d = check_ln(op, device_, x, "weight", weight, mean, rstd);
  cuda_check_float(op, "weight", weight);
  cuda_check_like(op, "x", x, "dout", dout, device_);
  cuda_check_like(op, "x", x, "dx", dx, device_);
  CudaDeviceGuard guard(device_);
  dispatch_float_pair(x.dtype(), weight.dtype(), [&](auto xt, auto wt) {
    using X = typename decltype(xt)::type;
    using W = typename decltype(wt)::type;
    cuda_kernels::launch_layernorm_backward_input<X, W>(kernel_ptr<X>(dout), kernel_ptr<X>(x), kernel_ptr<W>(weight),
                                                        mean.data<float>(), rstd.data<float>(), d.n, d.c,
                                                        kernel_ptr<X>(dx), stream());
  });
}

void CudaOps::layernorm_backward_weight(const Tensor& dout, const Tensor& x, const Tensor& mean,
                                        const Tensor& rstd, const Tensor& dweight, const Tensor& dbias) const {
  const char* op = "layernorm_backward_weight";
  const LnDims d = check_ln(op, device_, x, "dweight", dweight, mean, rstd);
  cuda_check_like(op, "x", x, "dout", dout, device_);
  cuda_check_on_device(op, "dbias", dbias, device_);
  cuda_check_dtype(op, "dweight", dweight, DType::kF32);  // parameter gradients are f32, accumulated
  cuda_check_dtype(op, "dbias", dbias, DType::kF32);
  cuda_check_same_shape(op, "dweight", dweight, "dbias", dbias);
  if (d.n == 0 || d.c == 0) return;
  CudaDeviceGuard guard(device_);
  const int chunks = cuda_kernels::layernorm_weight_grad_chunks(d.n, d.c, ctx_.sm_count());
  // Per-chunk column sums [chunks, 2, C]; from the caching allocator, stream-ordered like the kernels.
  const Tensor partials = Tensor::empty({chunks, 2, d.c}, DType::kF32, device());
  dispatch_float(x.dtype(), [&](auto xt) {
    using X = typename decltype(xt)::type;
    cuda_kernels::launch_layernorm_backward_weight<X>(kernel_ptr<X>(dout), kernel_ptr<X>(x), mean.data<float>(),
                                                      rstd.data<float>(), d.n, d.c, chunks,
                                                      partials.data<float>(), dweight.data<float>(),
                                                      dbias.data<float>(), stream());
  });
}

}  // namespace trident
