// Error checks for the CUDA runtime, cuBLAS/cuBLASLt and cuDNN. A failing call throws
// trident::Error naming the call, the library's own error string and the source line, so a GPU
// failure reads like every other trident error. Usable from .cu files (C++17) and .cpp files.
#pragma once

#include <cublasLt.h>
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace trident::cuda_detail {
[[noreturn]] void fail(const char* file, int line, const char* expr, const char* library, int code,
                       const char* text);
}  // namespace trident::cuda_detail

#define TRIDENT_CUDA_CHECK(expr)                                                                         \
  do {                                                                                                   \
    const cudaError_t trident_e_ = (expr);                                                               \
    if (trident_e_ != cudaSuccess)                                                                       \
      ::trident::cuda_detail::fail(__FILE__, __LINE__, #expr, "CUDA", static_cast<int>(trident_e_),      \
                                   cudaGetErrorString(trident_e_));                                      \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define TRIDENT_CUDA_LAUNCH_CHECK() TRIDENT_CUDA_CHECK(cudaGetLastError())

#define TRIDENT_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                                   \
    const cublasStatus_t trident_s_ = (expr);                                                            \
    if (trident_s_ != CUBLAS_STATUS_SUCCESS)                                                             \
      ::trident::cuda_detail::fail(__FILE__, __LINE__, #expr, "cuBLAS", static_cast<int>(trident_s_),    \
                                   cublasGetStatusString(trident_s_));                                   \
  } while (0)

#define TRIDENT_CUDNN_CHECK(expr)                                                                        \
  do {                                                                                                   \
    const cudnnStatus_t trident_s_ = (expr);                                                             \
    if (trident_s_ != CUDNN_STATUS_SUCCESS)                                                              \
      ::trident::cuda_detail::fail(__FILE__, __LINE__, #expr, "cuDNN", static_cast<int>(trident_s_),     \
                                   cudnnGetErrorString(trident_s_));                                     \
  } while (0)
