#include "core/tensor.h"

#include "core/allocator.h"
#include "core/ops.h"

namespace trident {

Storage::Storage(Allocator& alloc, std::size_t n, Device dev)
    : allocator(alloc), data(alloc.allocate(n)), bytes(n), device(dev) {}

Storage::~Storage() { allocator.deallocate(data, bytes); }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t d : shape) TRIDENT_CHECK(d >= 0, "Tensor::empty: negative extent in shape ", shape.str());
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(allocator_for(device), t.nbytes(), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  ops_for(device).fill(t, 0.0f);
  return t;
}

Tensor Tensor::slice0(std::int64_t begin, std::int64_t end) const {
  TRIDENT_CHECK(ndim() >= 1, "slice0 needs at least one dim, tensor is a scalar");
  TRIDENT_CHECK(0 <= begin && begin <= end && end <= dim(0), "slice0 [", begin, ", ", end,
                ") is outside dim 0 of a tensor of shape ", shape_.str());
  std::int64_t row = 1;
  for (int i = 1; i < ndim(); ++i) row *= dim(i);
  Tensor t = *this;
  t.offset_ = offset_ + begin * row;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::view(Shape shape) const {
  int inferred = -1;
  std::int64_t known = 1;
  for (int i = 0; i < shape.ndim(); ++i) {
    if (shape[i] == -1) {
      TRIDENT_CHECK(inferred < 0, "view ", shape.str(), " has more than one -1");
      inferred = i;
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    TRIDENT_CHECK(known > 0 && numel() % known == 0, "cannot view ", shape_.str(), " as ", shape.str());
    shape[inferred] = numel() / known;
  }
  TRIDENT_CHECK(shape.numel() == numel(), "cannot view ", shape_.str(), " (", numel(), " elements) as ",
                shape.str(), " (", shape.numel(), " elements)");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::as_2d() const {
  TRIDENT_CHECK(ndim() >= 1, "as_2d needs at least one dim");
  const std::int64_t cols = dim(-1);
  return view({cols == 0 ? 0 : numel() / cols, cols});
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) const {
  TRIDENT_CHECK(src.shape() == shape_ && src.dtype() == dtype_, "copy_from: source ", src.shape().str(), " ",
                dtype_name(src.dtype()), " does not match destination ", shape_.str(), " ", dtype_name(dtype_));
  // The op table of the non-host side knows how to move bytes between host and its device.
  const Device d = device().is_cpu() ? src.device() : device();
  ops_for(d).copy(src, *this);
}

}  // namespace trident
