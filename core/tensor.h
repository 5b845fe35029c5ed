// Tensor: a handle to contiguous, row-major, owned storage on one device.
//
// Copying a Tensor copies the handle (shared storage), as in PyTorch; clone() copies the data.
// The only views are the ones trident needs: a range of rows along dim 0 (micro-batch slices,
// chunks of a packed buffer) and a reshape of the same elements. Both stay contiguous, so every
// op can treat a tensor as one flat array.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace trident {

class Allocator;

// One allocation; freed through its allocator when the last tensor viewing it goes away.
struct Storage {
  Storage(Allocator& allocator, std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Allocator& allocator;
  void* data = nullptr;
  std::size_t bytes = 0;
  Device device;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Uninitialised storage on `device`; zeros() fills with 0 through the device's op table.
  static Tensor empty(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::kF32, Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  std::int64_t dim(int i) const { return shape_[i]; }  // negative i counts from the back
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::cpu(); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  // Typed pointer to the first element; checks that T matches dtype(). Handle semantics: a const
  // Tensor still gives write access to its elements, as op outputs are passed by const reference.
  template <typename T>
  T* data() const {
    TRIDENT_CHECK(dtype_of<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", not ",
                  dtype_name(dtype_of<T>::value));
    return static_cast<T*>(raw());
  }
  void* raw() const {
    return storage_ ? static_cast<char*>(storage_->data) + offset_ * static_cast<std::int64_t>(dtype_size(dtype_))
                    : nullptr;
  }

  // Rows [begin, end) along dim 0, sharing storage: shape [end-begin, dims 1..].
  Tensor slice0(std::int64_t begin, std::int64_t end) const;
  // The same elements under another shape with equal numel; one extent may be -1 (inferred).
  Tensor view(Shape shape) const;
  // Interpret as 2-D [numel / last, last]: how GEMMs see activations [B, S, C] as [B*S, C].
  Tensor as_2d() const;

  Tensor clone() const;                  // deep copy on the same device
  Tensor to(Device device) const;        // deep copy onto `device` (self if already there)
  void copy_from(const Tensor& src) const;  // same shape and dtype; devices may differ

  bool same_storage(const Tensor& other) const { return storage_ == other.storage_; }
  // Identity and size of the underlying allocation (views share both): for memory accounting.
  const void* storage_id() const { return storage_.get(); }
  std::size_t storage_bytes() const { return storage_ ? storage_->bytes : 0; }

 private:
  std::shared_ptr<Storage> storage_;
  std::int64_t offset_ = 0;  // in elements from the start of storage
  Shape shape_;
  DType dtype_ = DType::kF32;
};

}  // namespace trident
