#include "core/cuda/cuda_context.h"

#include <array>

#include "core/cuda/cuda_check.h"
#include "core/cuda_probe.h"
#include "core/error.h"

namespace trident {

namespace {
constexpr int kMaxDevices = 64;
}  // namespace

CudaContext& CudaContext::get(int device) {
  static std::array<std::unique_ptr<CudaContext>, kMaxDevices> contexts;
  static std::mutex mutex;
  const CudaProbe& probe = cuda_probe();
  TRIDENT_CHECK(probe.available, "cuda:", device, " requested, but ", probe.reason,
                " (run on a GPU machine, or set device to \"cpu\")");
  TRIDENT_CHECK(device >= 0 && device < probe.device_count && device < kMaxDevices, "cuda:", device,
                " does not exist: this machine has ", probe.device_count, " CUDA device(s)");
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = contexts[static_cast<std::size_t>(device)];
  if (!slot) slot.reset(new CudaContext(device));
  return *slot;
}

CudaContext::CudaContext(int device) : device_(device) {
  CudaDeviceGuard guard(device);
  cudaDeviceProp prop{};
  TRIDENT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  sm_count_ = prop.multiProcessorCount;
  cc_major_ = prop.major;
  cc_minor_ = prop.minor;
  TRIDENT_CHECK(cc_major_ >= 8, "cuda:", device, " is ", prop.name, " (sm_", cc_major_, cc_minor_,
                "); trident's GPU backend needs sm_80 or newer (bf16 tensor cores)");
  TRIDENT_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
  TRIDENT_CUBLAS_CHECK(cublasCreate(&cublas_));
  TRIDENT_CUBLAS_CHECK(cublasSetStream(cublas_, compute_));
  TRIDENT_CUBLAS_CHECK(cublasLtCreate(&cublaslt_));
  TRIDENT_CUDNN_CHECK(cudnnCreate(&cudnn_));
  TRIDENT_CUDNN_CHECK(cudnnSetStream(cudnn_, compute_));
  // The workspace is the context's own allocation, made once: it lives as long as the process.
  TRIDENT_CUDA_CHECK(cudaMalloc(&gemm_workspace_, kGemmWorkspaceBytes));
  TRIDENT_CUBLAS_CHECK(cublasSetWorkspace(cublas_, gemm_workspace_, kGemmWorkspaceBytes));
}

CudaContext::~CudaContext() {
  // Process exit: release quietly; errors here (a driver already shutting down) change nothing.
  cudaSetDevice(device_);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublaslt_) cublasLtDestroy(cublaslt_);
  if (cublas_) cublasDestroy(cublas_);
  if (gemm_workspace_) cudaFree(gemm_workspace_);
  for (auto& [name, s] : streams_) cudaStreamDestroy(s);
  if (compute_) cudaStreamDestroy(compute_);
}

cudaStream_t CudaContext::stream(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = streams_.find(name);
  if (it != streams_.end()) return it->second;
  CudaDeviceGuard guard(device_);
  cudaStream_t s = nullptr;
  // Communication streams get the highest priority so a collective's kernels are scheduled ahead
  // of queued compute kernels, which is what lets overlap actually hide communication.
  int least = 0, greatest = 0;
  TRIDENT_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  TRIDENT_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
  streams_.emplace(name, s);
  return s;
}

CudaDeviceGuard::CudaDeviceGuard(int device) {
  TRIDENT_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    TRIDENT_CUDA_CHECK(cudaSetDevice(device));
    changed_ = true;
  }
}

CudaDeviceGuard::~CudaDeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

void stream_wait(cudaStream_t consumer, cudaStream_t producer) {
  if (consumer == producer) return;
  struct Event {
    cudaEvent_t e = nullptr;
    Event() { TRIDENT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
    ~Event() { cudaEventDestroy(e); }
  };
  thread_local Event event;
  TRIDENT_CUDA_CHECK(cudaEventRecord(event.e, producer));
  TRIDENT_CUDA_CHECK(cudaStreamWaitEvent(consumer, event.e, 0));
}

void stream_synchronize(cudaStream_t stream) { TRIDENT_CUDA_CHECK(cudaStreamSynchronize(stream)); }

}  // namespace trident
