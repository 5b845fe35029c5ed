// A GPU's dense peak throughput, the denominator of MFU and of the benchmarks' "fraction of peak".
//
// bf16: the dense (no 2:4 sparsity) tensor-core peak with f32 accumulation. f32: the plain FP32
// (CUDA core, non-tensor) peak — trident never uses TF32. Datasheet values are used when the device
// name matches a known part (core/cuda/cuda_device_peak.cpp lists them with their sources), since
// they reflect the clock NVIDIA rates the tensor cores at (the H100 SXM's 989 TFLOP/s is at 1830 MHz,
// below its 1980 MHz max boost). Otherwise the peak is derived: SMs × max boost clock × FLOP per
// clock per SM of the architecture. Throws trident::Error for an architecture it has no figures for.
#pragma once

#include "core/dtype.h"

namespace trident {

// TFLOP/s (1e12 FLOP/s) of GPU `device` for `dtype` (f32 or bf16). Cached per device and dtype.
double cuda_peak_tflops(int device, DType dtype);

}  // namespace trident
