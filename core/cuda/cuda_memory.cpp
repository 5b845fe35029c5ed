// fill / copy / convert for the CUDA op table. Copies between host and device go through here
// (Tensor::copy_from picks the GPU side's table); all of them run on the compute stream, so they
// are ordered with the kernels that produce and consume the data.
#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_op_util.h"
#include "core/cuda/pointwise_kernels.h"
#include "core/error.h"

namespace trident {

namespace {

std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// A copy operand: on the host, or on this table's GPU (the only device its stream can reach).
void check_copy_side(const char* what, const Tensor& t, int device) {
  TRIDENT_CHECK(t.defined(), "copy: ", what, " is undefined");
  TRIDENT_CHECK(t.device().is_cpu() || t.device() == Device::cuda(device), "copy: ", what, " is on ",
                t.device().str(), ", but this op table copies between the host and cuda:", device,
                " (copies between GPUs are not supported: go through the host or a communicator)");
}

bool overlaps(const Tensor& a, const Tensor& b) {
  const auto* pa = static_cast<const char*>(a.raw());
  const auto* pb = static_cast<const char*>(b.raw());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

}  // namespace

// x[:] = value converted to x's dtype (bf16 rounded to nearest even, i32 truncated), as the CPU table.
void CudaOps::fill(const Tensor& x, float value) const {
  cuda_check_on_device("fill", "x", x, device_);
  const std::int64_t n = x.numel();
  if (n == 0) return;
  CudaDeviceGuard guard(device_);
  switch (x.dtype()) {
    case DType::kF32:
      launch_fill_32bit(static_cast<std::uint32_t*>(x.raw()), float_bits(value), n, stream());
      break;
    case DType::kI32:
      launch_fill_32bit(static_cast<std::uint32_t*>(x.raw()),
                        static_cast<std::uint32_t>(static_cast<std::int32_t>(value)), n, stream());
      break;
    case DType::kBF16:
      launch_fill_16bit(static_cast<std::uint16_t*>(x.raw()), to_bf16(value).bits, n, stream());
      break;
    case DType::kF64:
      TRIDENT_FAIL("fill: f64 tensors live on the host (metrics and byte counts); ", x.shape().str(),
                   " f64 on ", device().str(), " is not supported");
  }
}

// Same shape and dtype; host -> device, device -> host or device -> device on the compute stream.
//
// When either side is on the host the compute stream is synchronised before returning:
// - device -> host: the caller reads the host tensor right away, so the data must have landed.
// - host -> device: host tensors are pageable memory. cudaMemcpyAsync stages pageable memory
//   through a driver buffer and returns once the source has been read, but that is the driver's
//   implementation choice, not a documented guarantee for every platform and driver; a caller may
//   free or overwrite the host tensor as soon as copy() returns (to_gpu(random_host(...)) frees it
//   at once), so we wait for the copy to finish rather than rely on staging.
// Device -> device copies stay asynchronous, like every other op.
void CudaOps::copy(const Tensor& src, const Tensor& dst) const {
  check_copy_side("src", src, device_);
  check_copy_side("dst", dst, device_);
  TRIDENT_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "copy: source ", src.shape().str(), " ",
                dtype_name(src.dtype()), " does not match destination ", dst.shape().str(), " ",
                dtype_name(dst.dtype()));
  const bool src_host = src.device().is_cpu(), dst_host = dst.device().is_cpu();
  TRIDENT_CHECK(!(src_host && dst_host), "copy: both tensors are on the host; use the CPU op table "
                "(Tensor::copy_from picks it)");
  const std::size_t bytes = src.nbytes();
  if (bytes == 0 || src.raw() == dst.raw()) return;
  CudaDeviceGuard guard(device_);
  if (!src_host && !dst_host) {
    if (overlaps(src, dst)) {
      // Overlapping views of one storage: cudaMemcpy's result is undefined there (the CPU table
      // uses memmove), so go through a temporary.
      const Tensor tmp = Tensor::empty(src.shape(), src.dtype(), src.device());
      TRIDENT_CUDA_CHECK(cudaMemcpyAsync(tmp.raw(), src.raw(), bytes, cudaMemcpyDeviceToDevice, stream()));
      TRIDENT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), tmp.raw(), bytes, cudaMemcpyDeviceToDevice, stream()));
    } else {
      TRIDENT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), bytes, cudaMemcpyDeviceToDevice, stream()));
    }
    return;
  }
  const cudaMemcpyKind kind = src_host ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
  TRIDENT_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), bytes, kind, stream()));
  stream_synchronize(stream());
}

// dst = src with a dtype change, same number of elements: f32 -> bf16 rounds to nearest even
// (bit-identical to the CPU table's to_bf16), bf16 -> f32 is exact; the same dtype is a copy.
void CudaOps::convert(const Tensor& src, const Tensor& dst) const {
  cuda_check_on_device("convert", "src", src, device_);
  cuda_check_on_device("convert", "dst", dst, device_);
  TRIDENT_CHECK(src.numel() == dst.numel(), "convert: source ", src.shape().str(), " (", src.numel(),
                " elements) and destination ", dst.shape().str(), " (", dst.numel(), " elements) differ in size");
  const std::int64_t n = src.numel();
  if (src.dtype() == dst.dtype()) {
    copy(src, dst.shape() == src.shape() ? dst : dst.view(src.shape()));
    return;
  }
  if (n == 0) return;
  CudaDeviceGuard guard(device_);
  if (src.dtype() == DType::kF32 && dst.dtype() == DType::kBF16) {
    launch_convert(kernel_ptr<const float>(src), kernel_ptr<__nv_bfloat16>(dst), n, stream());
  } else if (src.dtype() == DType::kBF16 && dst.dtype() == DType::kF32) {
    launch_convert(kernel_ptr<const __nv_bfloat16>(src), kernel_ptr<float>(dst), n, stream());
  } else {
    TRIDENT_FAIL("convert: ", dtype_name(src.dtype()), " -> ", dtype_name(dst.dtype()),
                 " is not supported (only f32 <-> bf16, or a same-dtype copy)");
  }
}

}  // namespace trident
