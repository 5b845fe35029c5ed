#include "core/ops.h"

#include "core/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/op_record.h"

#ifdef TRIDENT_HAVE_CUDA
#include "core/cuda/cuda_backend.h"
#endif

namespace trident {

const Ops& ops_for(Device device) {
  // A ScopedOpRecording on this thread (core/op_record.h) takes precedence for its device.
  if (const Ops* recording = detail::recording_ops(device)) return *recording;
  if (device.is_meta()) return detail::meta_ops(device);
  if (device.is_cpu()) {
    static const CpuOps cpu;
    return cpu;
  }
#ifdef TRIDENT_HAVE_CUDA
  return cuda_ops(device.index);
#else
  TRIDENT_FAIL("no op table for device ", device.str(),
               ": this is a CPU-only build (configure with -DTRIDENT_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

}  // namespace trident
