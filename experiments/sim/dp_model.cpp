#include "experiments/sim/dp_model.h"

#include <algorithm>

#include "parallel/recording_communicator.h"

namespace trident {

namespace {
class Discard final : public CommSink {
 public:
  void record(const CommRecord&) override {}
};
}  // namespace

std::vector<DpTensorRef> dp_order(const Schedule& s, int stage, const std::vector<const ChunkOps*>& chunks) {
  std::vector<DpTensorRef> rest, wte;
  for (int c : s.chunks_of(stage)) {
    const auto& params = chunks[static_cast<std::size_t>(c)]->params;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const DpTensorRef t{c, static_cast<int>(i), params[i].elements, params[i].name == "wte.weight"};
      (t.wte ? wte : rest).push_back(t);
    }
  }
  std::reverse(rest.begin(), rest.end());
  rest.insert(rest.end(), wte.begin(), wte.end());
  return rest;
}

StageDp stage_dp(const Schedule& s, int stage, const std::vector<const ChunkOps*>& chunks, int dp,
                 const DataParallelOptions& options) {
  StageDp out;
  out.tensors = dp_order(s, stage, chunks);
  const Device meta = Device::meta();
  // Meta tensors of the parameters' sizes: DataParallel reads numel and shape only.
  std::vector<Tensor> values, grads;
  values.reserve(out.tensors.size());
  grads.reserve(out.tensors.size());
  std::vector<DpTensor> tensors;
  for (const DpTensorRef& t : out.tensors) {
    values.push_back(Tensor::empty({t.elements}, DType::kF32, meta));
    grads.push_back(Tensor::empty({t.elements}, DType::kF32, meta));
  }
  for (std::size_t i = 0; i < out.tensors.size(); ++i)
    tensors.push_back({&values[i], &grads[i], out.tensors[i].chunk, out.tensors[i].wte});
  Discard sink;
  RecordingCommunicator group("dp", dp, 0, sink);
  const DataParallel layout(std::move(tensors), dp > 1 ? &group : nullptr, options);
  out.buckets.resize(static_cast<std::size_t>(layout.num_buckets()));
  for (int b = 0; b < layout.num_buckets(); ++b) {
    out.buckets[static_cast<std::size_t>(b)].padded = layout.bucket_size(b);
    out.largest_bucket = std::max(out.largest_bucket, layout.bucket_size(b));
  }
  for (std::size_t i = 0; i < out.tensors.size(); ++i) {
    const int b = layout.slot(static_cast<int>(i)).bucket;
    out.buckets[static_cast<std::size_t>(b)].members.push_back(static_cast<int>(i));
    if (out.tensors[i].wte) out.tied_elements += layout.bucket_size(b);
  }
  out.model_state = layout.model_state_bytes();
  return out;
}

}  // namespace trident
