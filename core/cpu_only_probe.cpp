// cuda_probe() of a build without the CUDA backend: nothing to probe, and the reason says so.
#include "core/cuda_probe.h"

namespace trident {

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = [] {
    CudaProbe p;
    p.reason = "this build has no CUDA backend (configured with TRIDENT_CUDA=OFF or no nvcc found)";
    return p;
  }();
  return probe;
}

}  // namespace trident
