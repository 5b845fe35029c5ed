// fill / copy / convert on host memory. The CPU table only sees host tensors; copies that touch a
// GPU go through that device's table (Tensor::copy_from picks it), so a GPU tensor here is a bug.
#include <algorithm>
#include <cstring>

#include "core/cpu/cpu_ops.h"

namespace trident {

namespace {
void check_host(const char* op, const char* what, const Tensor& t) {
  TRIDENT_CHECK(t.device().is_cpu(), op, ": ", what, " is on ", t.device().str(),
                ", but the CPU op table only handles host tensors (use the device's op table)");
}
}  // namespace

void CpuOps::fill(const Tensor& x, float value) const {
  check_host("fill", "x", x);
  const std::int64_t n = x.numel();
  switch (x.dtype()) {
    case DType::kF32: std::fill_n(x.data<float>(), n, value); break;
    case DType::kBF16: std::fill_n(x.data<bf16>(), n, to_bf16(value)); break;
    case DType::kI32: std::fill_n(x.data<std::int32_t>(), n, static_cast<std::int32_t>(value)); break;
    case DType::kF64: std::fill_n(x.data<double>(), n, static_cast<double>(value)); break;
  }
}

void CpuOps::copy(const Tensor& src, const Tensor& dst) const {
  check_host("copy", "src", src);
  check_host("copy", "dst", dst);
  TRIDENT_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "copy: source ", src.shape().str(), " ",
                dtype_name(src.dtype()), " does not match destination ", dst.shape().str(), " ",
                dtype_name(dst.dtype()));
  if (src.nbytes() == 0 || src.raw() == dst.raw()) return;
  std::memmove(dst.raw(), src.raw(), src.nbytes());  // memmove: overlapping views of one storage are legal
}

void CpuOps::convert(const Tensor& src, const Tensor& dst) const {
  check_host("convert", "src", src);
  check_host("convert", "dst", dst);
  TRIDENT_CHECK(src.numel() == dst.numel(), "convert: source ", src.shape().str(), " (", src.numel(),
                " elements) and destination ", dst.shape().str(), " (", dst.numel(), " elements) differ in size");
  const std::int64_t n = src.numel();
  if (src.dtype() == dst.dtype()) {
    if (n > 0 && src.raw() != dst.raw()) std::memmove(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  if (src.dtype() == DType::kF32 && dst.dtype() == DType::kBF16) {
    const float* s = src.data<float>();
    bf16* d = dst.data<bf16>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = to_bf16(s[i]);
  } else if (src.dtype() == DType::kBF16 && dst.dtype() == DType::kF32) {
    const bf16* s = src.data<bf16>();
    float* d = dst.data<float>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = from_bf16(s[i]);
  } else {
    TRIDENT_FAIL("convert: ", dtype_name(src.dtype()), " -> ", dtype_name(dst.dtype()),
                 " is not supported (only f32 <-> bf16, or a same-dtype copy)");
  }
}

}  // namespace trident
