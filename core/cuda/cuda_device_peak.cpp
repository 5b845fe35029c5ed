// Peak FLOP/s of a GPU: a datasheet table by device name, else SM count × clock × per-SM rate.
//
// Sources (dense, i.e. without 2:4 sparsity; NVIDIA datasheets and architecture whitepapers):
//   A100 (SXM4 and PCIe, 40/80 GB): 312 TFLOP/s bf16, 19.5 f32 — A100 datasheet; A100 whitepaper:
//     108 SMs × 1410 MHz × 1024 dense bf16 FMA/clk/SM (2048 FLOP) = 312; 64 FP32 cores/SM.
//   H100 SXM5: 989.4 bf16, 67 f32 — H100 datasheet; Hopper whitepaper: 2048 dense bf16 FMA/clk/SM
//     (4096 FLOP, twice A100 per SM), 132 SMs × 1830 MHz × 4096 = 989; FP32 132 × 128 × 2 × 1980 MHz.
//   H100 PCIe: 756 bf16, 51 f32 — H100 datasheet (114 SMs).
//   H100 NVL: 835 bf16, 60 f32 — H100 NVL datasheet (half its 1671 sparse figure).
//   H200 (SXM), GH200: 989 bf16, 67 f32 — H200 / GH200 datasheets (the H100 SXM's compute).
//   H200 NVL: 835 bf16, 60 f32 — H200 NVL datasheet.
//   L40S: 362 bf16, 91.6 f32 — L40S datasheet (733 with sparsity).
// Derived rates per SM per clock (FLOP = 2 × FMA), for parts not in the table:
//   bf16 tensor: sm_80 2048; sm_86 1024 (A10: 125 TFLOP/s = 72 SMs × 1695 MHz × 1024; A40 likewise;
//   GeForce GA10x parts run bf16 with f32 accumulation at a quarter of that); sm_89 1024 (L4: 121 =
//   58 × 2040 MHz × 1024; L40S 362 = 142 × 2520 × 1011); sm_90 4096; sm_100 8192 (B200: 2.25 PFLOP/s
//   dense with 148 SMs, ≈ 8192 per SM at its rated clock).
//   f32: 2 × FP32 cores per SM: 64 cores on sm_80, 128 on sm_86, sm_89, sm_90 and sm_100.
// cudaDevAttrClockRate is the max boost clock in kHz (CUDA 13 dropped cudaDeviceProp::clockRate).
#include "core/cuda/cuda_device_peak.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/cuda/cuda_check.h"
#include "core/cuda/cuda_context.h"
#include "core/error.h"

namespace trident {

namespace {

struct Datasheet {
  const char* name_part;  // matched as a substring of cudaDeviceProp::name, in table order
  double bf16_tflops;
  double f32_tflops;
};

// More specific names first: "H100 PCIe" and "H100 NVL" before "H100", "H200 NVL" and "GH200"
// before "H200".
constexpr Datasheet kDatasheets[] = {
    {"H100 PCIe", 756.0, 51.0}, {"H100 NVL", 835.0, 60.0}, {"H100", 989.4, 67.0}, {"GH200", 989.4, 67.0},
    {"H200 NVL", 835.0, 60.0},  {"H200", 989.4, 67.0},     {"A100", 312.0, 19.5}, {"L40S", 362.0, 91.6},
};

struct ArchRate {
  int cc;                // compute capability × 10
  double bf16_per_clk;   // dense tensor-core FLOP per clock per SM
  double f32_per_clk;    // FP32 FLOP per clock per SM
};

constexpr ArchRate kArchRates[] = {
    {80, 2048.0, 128.0}, {86, 1024.0, 256.0}, {89, 1024.0, 256.0}, {90, 4096.0, 256.0}, {100, 8192.0, 256.0},
};

double compute_peak(int device, DType dtype) {
  TRIDENT_CHECK(dtype == DType::kF32 || dtype == DType::kBF16, "cuda_peak_tflops: no peak for ", dtype_name(dtype),
                "; ask for f32 or bf16");
  CudaDeviceGuard guard(device);
  cudaDeviceProp prop{};
  TRIDENT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  const std::string name = prop.name;
  for (const Datasheet& d : kDatasheets)
    if (name.find(d.name_part) != std::string::npos) return dtype == DType::kBF16 ? d.bf16_tflops : d.f32_tflops;

  int sms = 0, clock_khz = 0, major = 0, minor = 0;
  TRIDENT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  TRIDENT_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device));
  TRIDENT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  TRIDENT_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  const int cc = major * 10 + minor;
  for (const ArchRate& a : kArchRates)
    if (a.cc == cc)
      return static_cast<double>(sms) * clock_khz * 1e3 * (dtype == DType::kBF16 ? a.bf16_per_clk : a.f32_per_clk) *
             1e-12;
  TRIDENT_FAIL("cuda_peak_tflops: no peak figures for ", name, " (sm_", cc,
               "); set peak_flops in the run's config to the device's dense ", dtype_name(dtype), " FLOP/s");
}

}  // namespace

double cuda_peak_tflops(int device, DType dtype) {
  static std::mutex mutex;
  static std::map<std::pair<int, DType>, double> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(device, dtype);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, compute_peak(device, dtype)).first;
  return it->second;
}

}  // namespace trident
