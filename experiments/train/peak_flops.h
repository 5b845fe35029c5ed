// The peak FLOP/s that MFU divides by, when the config gives none (peak_flops = 0). On CPUs it is
// measured, since a CPU's useful peak depends on its vector units, its clocks under load and how
// many ranks share its cores; on GPUs it is the device's dense tensor-core peak.
#pragma once

#include "core/device.h"
#include "core/dtype.h"
#include "parallel/communicator.h"

namespace trident {

// Collective over `world`. Every rank times the best of 3 single-precision 1024×1024×1024 GEMMs
// through the CPU op table (OpenBLAS with this rank's thread count, after one untimed warm-up),
// each run started on all ranks together by a barrier, so the peak is measured under the same
// oversubscription as the run: with 8 ranks on 2 cores each rank sees about a quarter of a core's
// rate, and MFU compares like with like. Returns the mean over ranks of the per-rank FLOP/s (the
// machine's rate shared fairly), the same value on every rank.
double measure_cpu_peak_flops(Communicator& world);

// A GPU's dense peak FLOP/s for `dtype` (tensor cores for bf16), from its datasheet or its SM
// count and clock (core/cuda/cuda_device_peak.h). Throws in a CPU-only build.
double gpu_peak_flops(Device device, DType dtype);

}  // namespace trident
