// Per-GPU state shared by the CUDA op table and the NCCL communicators.
//
// Streams: every op runs on the device's one *compute* stream, so ops are ordered without any
// synchronisation and the caching allocator can reuse a freed block at once (later kernels on
// the same stream run after earlier ones). Communication runs on one stream per mesh axis
// ("tp", "pp", "dp", "embedding", …), created on first use, so collectives of different axes
// overlap each other and the compute; streams are ordered with events (stream_wait), never with
// device-wide synchronisation.
//
// Handles: cuBLAS, cuBLASLt and cuDNN handles bound to the compute stream, and the cuBLASLt
// workspace. A process drives one GPU (its local rank's); the context of another device is only
// made when asked for.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace trident {

class CudaContext {
 public:
  // The context of GPU `device`, created on first use (throws trident::Error when no such GPU).
  static CudaContext& get(int device);

  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;
  ~CudaContext();

  int device() const { return device_; }
  cudaStream_t compute_stream() const { return compute_; }
  // A named side stream (communication of one mesh axis), non-blocking w.r.t. the legacy stream.
  cudaStream_t stream(const std::string& name);

  cublasHandle_t cublas() const { return cublas_; }
  cublasLtHandle_t cublaslt() const { return cublaslt_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  // Scratch for cuBLASLt GEMMs on the compute stream (32 MiB: what cuBLAS recommends for sm_90).
  void* gemm_workspace() const { return gemm_workspace_; }
  std::size_t gemm_workspace_bytes() const { return kGemmWorkspaceBytes; }

  // Device properties the ops and benchmarks need.
  int sm_count() const { return sm_count_; }
  int compute_capability() const { return cc_major_ * 10 + cc_minor_; }  // 80, 90, …

  static constexpr std::size_t kGemmWorkspaceBytes = std::size_t{32} << 20;

 private:
  explicit CudaContext(int device);

  int device_;
  int sm_count_ = 0, cc_major_ = 0, cc_minor_ = 0;
  cudaStream_t compute_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  void* gemm_workspace_ = nullptr;
  std::mutex mutex_;
  std::map<std::string, cudaStream_t> streams_;
};

// Makes `device` current for a scope and restores the previous device after.
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int device);
  ~CudaDeviceGuard();
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Work enqueued on `consumer` from now on waits for all work enqueued on `producer` so far.
// Host does not block. (One event per thread suffices: a wait captures the event's state when
// it is enqueued, so the event can be recorded again right after.)
void stream_wait(cudaStream_t consumer, cudaStream_t producer);

// Blocks the host until `stream` is idle, throwing trident::Error on a kernel fault.
void stream_synchronize(cudaStream_t stream);

}  // namespace trident
