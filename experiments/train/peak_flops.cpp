// The CPU peak probe: barrier, GEMM, reduce. See peak_flops.h for why it runs under contention.
#include "experiments/train/peak_flops.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/ops.h"
#include "core/tensor.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_device_peak.h"
#endif

namespace trident {

namespace {

constexpr std::int64_t kSize = 1024;  // near OpenBLAS's peak; 2.1 GFLOP, well under a second per GEMM on a core
constexpr int kTimedRuns = 3;

}  // namespace

double measure_cpu_peak_flops(Communicator& world) {
  const Ops& ops = ops_for(Device::cpu());
  const Tensor a = Tensor::empty({kSize, kSize}), b = Tensor::empty({kSize, kSize}), c = Tensor::empty({kSize, kSize});
  ops.fill(a, 0.5f);
  ops.fill(b, 0.25f);
  ops.fill(c, 0.0f);
  ops.gemm(false, false, 1.0f, a, b, 0.0f, c);  // warm-up: thread start, page faults
  double best = 0;
  for (int i = 0; i < kTimedRuns; ++i) {
    // Every run starts on all ranks together: each is timed while the others compute too, under the
    // run's contention, instead of in the gaps left by ranks that finished early.
    world.barrier();
    const auto start = std::chrono::steady_clock::now();
    ops.gemm(false, false, 1.0f, a, b, 0.0f, c);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = best == 0 ? took.count() : std::min(best, took.count());
  }
  const double flops = 2.0 * static_cast<double>(kSize * kSize * kSize) / best;
  // The mean over ranks: run together, the ranks' rates add up to what the machine delivers, and the
  // mean is that shared fairly. (The minimum would let one rank that an outside process slowed
  // define everyone's peak and push MFU above 1.) f32 carries 7 significant digits, plenty here.
  const Tensor slot = Tensor::empty({1});
  slot.data<float>()[0] = static_cast<float>(flops);
  world.all_reduce(slot, ReduceOp::kAvg);
  return static_cast<double>(slot.data<float>()[0]);
}

double gpu_peak_flops(Device device, DType dtype) {
  TRIDENT_CHECK(device.is_cuda(), "gpu_peak_flops: ", device.str(), " is not a GPU");
#ifdef TRIDENT_HAVE_CUDA
  return cuda_peak_tflops(device.index, dtype) * 1e12;
#else
  TRIDENT_FAIL("gpu_peak_flops: this build has no CUDA backend; set peak_flops in the config");
#endif
}

}  // namespace trident
