// What GPUs this process can use, asked of the CUDA runtime without failing when there are none.
// GPU tests and benchmarks skip with `reason` when no device is available; the CLI's `info`
// command prints the library versions the build linked.
#pragma once

#include <string>
#include <vector>

namespace trident {

struct CudaProbe {
  bool built_with_cuda = false;  // compiled with the CUDA backend
  bool available = false;        // built with CUDA and at least one device usable
  int device_count = 0;
  std::string reason;  // why not available (empty when available)
  int runtime_version = 0, driver_version = 0, cublas_version = 0, cudnn_version = 0;
  std::vector<std::string> devices;  // "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"
  std::vector<long long> memory_bytes;  // each device's total memory, in the order of `devices`
};

// Cached after the first call.
const CudaProbe& cuda_probe();

}  // namespace trident
