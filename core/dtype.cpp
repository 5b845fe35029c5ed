#include "core/dtype.h"

#include "core/error.h"

namespace trident {

DType parse_dtype(std::string_view name) {
  if (name == "f32" || name == "fp32" || name == "float32") return DType::kF32;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name == "i32" || name == "int32") return DType::kI32;
  if (name == "f64" || name == "float64") return DType::kF64;
  TRIDENT_FAIL("unknown dtype '", name, "': use 'f32', 'bf16', 'i32' or 'f64'");
}

}  // namespace trident
