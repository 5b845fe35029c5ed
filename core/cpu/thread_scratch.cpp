#include "core/cpu/thread_scratch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace trident::cpu {

namespace {
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
}  // namespace

float* thread_scratch(std::size_t floats) {
  thread_local std::unique_ptr<float, FreeDeleter> buffer;
  thread_local std::size_t capacity = 0;
  if (floats > capacity) {
    const std::size_t bytes = scratch_floats(floats) * sizeof(float);
    auto* fresh = static_cast<float*>(std::aligned_alloc(64, bytes));
    TRIDENT_CHECK(fresh != nullptr, "out of host memory allocating ", bytes, " bytes of kernel scratch");
    buffer.reset(fresh);
    capacity = scratch_floats(floats);
  }
  return buffer.get();
}

double* thread_scratch_doubles(std::size_t count) {
  auto* d = reinterpret_cast<double*>(thread_scratch(2 * count));
  std::fill(d, d + count, 0.0);
  return d;
}

}  // namespace trident::cpu
