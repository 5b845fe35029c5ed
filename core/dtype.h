// Element types. f32 is the CPU compute type and the master-weight type; bf16 is the GPU compute
// and activation type; i32 holds token ids and targets; f64 carries host-side statistics (metrics,
// byte counts) through reductions without f32's 24-bit mantissa.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace trident {

enum class DType : std::uint8_t { kF32, kBF16, kI32, kF64 };

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kF64: return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kF64: return "f64";
  }
  return "?";
}

// Parses "f32" / "bf16" / "i32" / "f64"; throws trident::Error naming the accepted spellings otherwise.
DType parse_dtype(std::string_view name);

// bfloat16 storage: the upper 16 bits of an IEEE f32, rounded to nearest even.
struct bf16 {
  std::uint16_t bits;
};

inline bf16 to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(u >> 16)};
}

inline float from_bf16(bf16 h) {
  std::uint32_t u = static_cast<std::uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Maps a C++ element type to its DType, so Tensor::data<T>() can check what it hands out.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::kF32; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::kBF16; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::kI32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::kF64; };

}  // namespace trident
