#include "core/ops.h"

#include "core/cpu/cpu_ops.h"
#include "core/error.h"

namespace trident {

namespace {
const Ops*& slot(DeviceType type) {
  static const Ops* slots[2] = {nullptr, nullptr};
  return slots[static_cast<int>(type)];
}
}  // namespace

const Ops& ops_for(Device device) {
  if (device.is_cpu()) {
    static const CpuOps cpu;
    return cpu;
  }
  const Ops* ops = slot(device.type);
  TRIDENT_CHECK(ops != nullptr, "no op table for device ", device.str(),
                ": this build has no CUDA backend or it was not initialised (build with -DTRIDENT_CUDA=ON and run on a GPU machine)");
  return *ops;
}

void register_ops(DeviceType type, const Ops* ops) { slot(type) = ops; }

}  // namespace trident
