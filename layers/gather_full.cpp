#include "layers/gather_full.h"

namespace trident {

Tensor gather_full(const Parameter& p, const Tensor& local, const TensorParallel& tp) {
  const Tensor host = local.to(Device::cpu());
  if (p.replicated() || tp.size() == 1) return host.clone().view(p.full_shape());
  // Every TP rank's shard of a split parameter has the same number of elements.
  const std::int64_t n = host.numel();
  Tensor all = Tensor::empty({tp.size() * n});
  tp.group()->all_gather(host.view({n}), all);
  Tensor full = Tensor::empty(p.full_shape());
  for (int r = 0; r < tp.size(); ++r) {
    const ShardSpec spec = p.spec(tp.size(), r);
    insert_shard(full, all.slice0(r * n, (r + 1) * n).view(spec.local_shape()), spec);
  }
  return full;
}

Tensor without_padding(const Parameter& p, const Tensor& full) {
  return full.slice0(0, p.valid_rows()).clone();
}

}  // namespace trident
