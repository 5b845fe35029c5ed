#include "core/cuda_probe.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <library_types.h>

#include <string>

namespace trident {

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = [] {
    CudaProbe p;
    p.built_with_cuda = true;
    cudaRuntimeGetVersion(&p.runtime_version);
    cudaDriverGetVersion(&p.driver_version);  // 0 when no driver is installed
    int major = 0, minor = 0, patch = 0;
    cublasGetProperty(MAJOR_VERSION, &major);
    cublasGetProperty(MINOR_VERSION, &minor);
    cublasGetProperty(PATCH_LEVEL, &patch);
    p.cublas_version = major * 10000 + minor * 100 + patch;
    p.cudnn_version = static_cast<int>(cudnnGetVersion());
    const cudaError_t err = cudaGetDeviceCount(&p.device_count);
    if (err != cudaSuccess) {
      p.device_count = 0;
      p.reason = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
      cudaGetLastError();  // clear the sticky error so later calls start clean
      return p;
    }
    if (p.device_count == 0) {
      p.reason = "no usable CUDA device: the driver reports 0 devices";
      return p;
    }
    for (int i = 0; i < p.device_count; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
      p.devices.push_back(std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                          ", " + std::to_string(prop.totalGlobalMem >> 30) + " GiB)");
      p.memory_bytes.push_back(static_cast<long long>(prop.totalGlobalMem));
    }
    p.available = true;
    return p;
  }();
  return probe;
}

}  // namespace trident
