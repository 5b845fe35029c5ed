// NVTX ranges: named, coloured spans that Nsight Systems shows on the CPU timeline above the
// kernels they launched, so an nsys profile reads like trident's own Chrome trace (schedule
// actions, collectives, optimizer). Header-only NVTX v3: no library to link, and the calls cost a
// few nanoseconds when no profiler is attached. A no-op in CPU-only builds.
#pragma once

#include <cstdint>
#include <string>

#ifdef TRIDENT_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace trident {

// Colour families, so a timeline separates compute, communication and bookkeeping at a glance.
enum class NvtxColor : std::uint32_t {
  kCompute = 0xFF4C9BE8,        // schedule compute actions (F, B, I, W)
  kCommunication = 0xFFE8794C,  // collectives and point-to-point
  kOptimizer = 0xFF5CB85C,      // gradient sync, clipping, AdamW
  kOther = 0xFF9E9E9E,
};

class NvtxRange {
 public:
  explicit NvtxRange(const char* name, NvtxColor color = NvtxColor::kOther) {
#ifdef TRIDENT_HAVE_CUDA
    nvtxEventAttributes_t attr{};
    attr.version = NVTX_VERSION;
    attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    attr.colorType = NVTX_COLOR_ARGB;
    attr.color = static_cast<std::uint32_t>(color);
    attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
    attr.message.ascii = name;
    nvtxRangePushEx(&attr);
#else
    (void)name;
    (void)color;
#endif
  }
  explicit NvtxRange(const std::string& name, NvtxColor color = NvtxColor::kOther) : NvtxRange(name.c_str(), color) {}
  ~NvtxRange() {
#ifdef TRIDENT_HAVE_CUDA
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace trident
