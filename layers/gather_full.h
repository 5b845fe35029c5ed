// A parameter (or its gradient) assembled to its full, unsharded shape on every TP rank: the
// shards are all-gathered over TP and each is written where its ShardSpec says. Used to export
// GPT-2 checkpoints and to compare any layout against the serial model.
#pragma once

#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

// `local` is `p.value`, `p.grad` or any tensor of the local shard's shape; the result is a host
// f32 tensor of p.full_shape() (padding rows included). Collective over the TP group for split
// parameters; replicated ones are copied.
Tensor gather_full(const Parameter& p, const Tensor& local, const TensorParallel& tp);

// The GPT-2 view of a full tensor: vocabulary padding rows removed (p.export_shape()).
Tensor without_padding(const Parameter& p, const Tensor& full);

// The inverse of both: `exported` (host f32, p.export_shape()) padded with zero vocabulary rows,
// and this rank's shard of it copied into `dst` (p.value, or any tensor of the local shard's shape,
// on any device). No communication: every rank reads the whole tensor and keeps its slice.
void shard_from_export(const Parameter& p, const Tensor& exported, const Tensor& dst);

}  // namespace trident
