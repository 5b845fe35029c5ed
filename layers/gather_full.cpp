#include "layers/gather_full.h"

namespace trident {

Tensor gather_full(const Parameter& p, const Tensor& local, const TensorParallel& tp) {
  if (p.replicated() || tp.size() == 1) return local.to(Device::cpu()).clone().view(p.full_shape());
  // Every TP rank's shard of a split parameter has the same number of elements. Gathered where the
  // shards live (a GPU communicator moves device memory), then brought to the host once.
  const std::int64_t n = local.numel();
  Tensor gathered = Tensor::empty({tp.size() * n}, local.dtype(), local.device());
  tp.group()->all_gather(local.view({n}), gathered);
  const Tensor all = gathered.to(Device::cpu());
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

void shard_from_export(const Parameter& p, const Tensor& exported, const Tensor& dst) {
  TRIDENT_CHECK(exported.shape() == p.export_shape(), p.name(), ": a GPT-2 tensor of ", exported.shape().str(),
                " cannot fill ", p.export_shape().str());
  Tensor full = Tensor::zeros(p.full_shape());  // vocabulary padding rows stay zero
  full.slice0(0, p.valid_rows()).copy_from(exported);
  dst.copy_from(extract_shard(full, p.spec()).to(dst.device()));
}

}  // namespace trident
