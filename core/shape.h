// Tensor shapes: up to kMaxDims extents stored inline, so shapes never touch the heap on hot paths.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace trident {

class Shape {
 public:
  static constexpr int kMaxDims = 6;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) {
    TRIDENT_CHECK(static_cast<int>(dims.size()) <= kMaxDims, "a shape has at most ", kMaxDims, " dims");
    for (std::int64_t d : dims) push_back(d);
  }
  template <typename It>
  Shape(It begin, It end) {
    for (; begin != end; ++begin) push_back(static_cast<std::int64_t>(*begin));
  }

  void push_back(std::int64_t d) {
    TRIDENT_CHECK(ndim_ < kMaxDims, "a shape has at most ", kMaxDims, " dims");
    TRIDENT_CHECK(d >= -1, "negative extent ", d, " in a shape");  // -1: "infer" in Tensor::view
    dims_[ndim_++] = d;
  }

  int ndim() const { return ndim_; }
  // Negative indices count from the back, as in Python.
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i < 0 ? i + ndim_ : i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i < 0 ? i + ndim_ : i)]; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + ndim_; }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(dims_[static_cast<std::size_t>(i)]);
    return s + "]";
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.ndim_ != b.ndim_) return false;
    for (int i = 0; i < a.ndim_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

}  // namespace trident
