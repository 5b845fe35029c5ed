#include "experiments/sim/chunk_ops.h"

#include "core/allocator.h"
#include "layers/gpt_chunk.h"

namespace trident {

namespace {

// Appends ops, collectives and gradient-ready marks to whichever list is being recorded.
class ListSink final : public OpSink, public CommSink {
 public:
  std::vector<WorkItem>* target = nullptr;
  void record(const OpRecord& op) override {
    if (target) target->push_back({WorkItem::Kind::kOp, op, {}, -1});
  }
  void record(const CommRecord& c) override {
    if (target) target->push_back({WorkItem::Kind::kComm, {}, c, -1});
  }
  void grad_ready(int param) {
    if (target) target->push_back({WorkItem::Kind::kGradReady, {}, {}, param});
  }
};

// Runs `action` and returns the allocator's peak above what was held when it started.
template <typename F>
std::int64_t working_bytes(Allocator& alloc, F&& action) {
  const std::int64_t before = alloc.stats().current_bytes;
  alloc.reset_peak();
  action();
  return alloc.stats().peak_bytes - before;
}

}  // namespace

double ChunkOps::matmul_flops(const std::vector<WorkItem>& items) {
  double f = 0.0;
  for (const WorkItem& w : items)
    if (w.kind == WorkItem::Kind::kOp &&
        (w.op.is_gemm() || w.op.kind == OpKind::kAttentionForward || w.op.kind == OpKind::kAttentionBackward ||
         w.op.kind == OpKind::kAttentionCached))
      f += w.op.flops;
  return f;
}

ChunkOps record_chunk(const ChunkContext& ctx, std::int64_t layers, bool embedding, bool head) {
  const Device dev = Device::meta(ctx.device);
  Allocator& alloc = allocator_for(dev);
  ListSink sink;
  std::unique_ptr<RecordingCommunicator> tp_group;
  if (ctx.tp > 1) tp_group = std::make_unique<RecordingCommunicator>("tp", ctx.tp, ctx.tp_rank, sink);

  // Block names (hence first_layer) only name parameters; every block records the same ops.
  const std::int64_t first = embedding ? 0 : ctx.model.layers - layers;
  GptChunk chunk(ctx.model, ChunkLayout{first, layers, embedding, head}, tp_group.get(), ctx.options, dev);
  chunk.set_compute_dtype(ctx.compute_dtype);

  ChunkOps ops;
  std::map<const Parameter*, int> index;
  for (Parameter* p : chunk.parameters()) {
    index[p] = static_cast<int>(ops.params.size());
    const bool copy = p->for_compute().dtype() != p->value.dtype();
    ops.params.push_back({p->name(), p->value.numel(), p->grad_is_tp_partial, chunk.is_tied_copy(p), copy});
    ops.param_elements += p->value.numel();
    if (copy) ops.compute_copy_elements += p->value.numel();
  }
  chunk.set_grad_accumulated_hook([&](Parameter& p) { sink.grad_ready(index.at(&p)); });

  // One micro-batch's inputs, allocated before anything is measured (they are the caller's).
  const std::int64_t tokens = ctx.micro_batch_size * ctx.model.seq_len;
  const std::int64_t local = chunk.tp().local_tokens(tokens);
  const Tensor input = embedding ? Tensor::empty({ctx.micro_batch_size, ctx.model.seq_len}, DType::kI32, dev)
                                 : Tensor::empty({local, ctx.model.hidden}, ctx.compute_dtype, dev);
  const Tensor targets = head ? Tensor::empty({ctx.micro_batch_size, ctx.model.seq_len}, DType::kI32, dev) : Tensor();
  const Tensor grad_out = head ? Tensor() : Tensor::empty({local, ctx.model.hidden}, ctx.compute_dtype, dev);
  ops.boundary_bytes = local * ctx.model.hidden * static_cast<std::int64_t>(dtype_size(ctx.compute_dtype));

  const ScopedOpRecording scope(dev, sink);
  sink.target = &ops.forward;
  ops.work_forward = working_bytes(alloc, [&] { (void)chunk.forward(0, input, targets, 1.0f); });
  ops.stash_forward = chunk.stashed_bytes(0);
  sink.target = &ops.backward_input;
  ops.work_input = working_bytes(alloc, [&] { (void)chunk.backward_input(0, grad_out); });
  ops.stash_input = chunk.stashed_bytes(0);
  sink.target = &ops.backward_weight;
  ops.work_weight = working_bytes(alloc, [&] { chunk.backward_weight(0); });
  sink.target = nullptr;
  return ops;
}

const ChunkOps& ChunkRecorder::get(std::int64_t layers, bool embedding, bool head) {
  auto& slot = cache_[{layers, embedding, head}];
  if (!slot) slot = std::make_unique<ChunkOps>(record_chunk(context_, layers, embedding, head));
  return *slot;
}

}  // namespace trident
