#include "layers/vocab_parallel_embedding.h"

#include "core/ops.h"

namespace trident {

std::int64_t padded_vocab(std::int64_t vocab, int tp) { return (vocab + tp - 1) / tp * tp; }

Parameter make_wte(const GptConfig& c, const TensorParallel& tp, Device device) {
  return Parameter("wte.weight", {padded_vocab(c.vocab, tp.size()), c.hidden}, TpSplit::along(0),
                   Init::normal(c.init_std), true, tp.size(), tp.rank(), device, c.vocab);
}

VocabParallelEmbedding::VocabParallelEmbedding(const GptConfig& c, const TensorParallel& tp, Device device)
    : wte(make_wte(c, tp, device)),
      wpe("wpe.weight", {c.seq_len, c.hidden}, TpSplit::replicated(), Init::normal(c.init_std), true, tp.size(),
          tp.rank(), device),
      tp_(tp),
      seq_len_(c.seq_len) {}

std::int64_t VocabParallelEmbedding::vocab_begin() const { return wte.spec().ranges(0).front().begin; }

Tensor VocabParallelEmbedding::forward(const Tensor& ids, Saved& s) const {
  const Ops& ops = ops_for(wte.value.device());
  TRIDENT_CHECK(ids.dtype() == DType::kI32 && ids.ndim() == 2 && ids.dim(1) == seq_len_, "embedding: token ids ",
                ids.shape().str(), " ", dtype_name(ids.dtype()), " should be i32 [micro_batch, ", seq_len_, "]");
  s.ids = ids;
  const std::int64_t batch = ids.dim(0), h = wte.value.dim(1);
  // Activations start here, in the compute dtype (the dtype wte's GEMM copy has: bf16 under mixed
  // precision); the lookup reads the f32 master rows.
  Tensor partial = Tensor::empty({batch * seq_len_, h}, wte.for_compute().dtype(), wte.value.device());
  ops.embedding_forward(ids.view({batch * seq_len_}), wte.value, vocab_begin(), partial);
  if (tp_.rank() == 0) ops.bias_add(partial.view({batch, seq_len_ * h}), wpe.value.view({seq_len_ * h}));
  return tp_.leave_region(partial);
}

void VocabParallelEmbedding::backward_input(const Tensor& dy, Saved& s) const {
  s.dy = tp_.leave_region_backward(dy.as_2d());
}

void VocabParallelEmbedding::backward_weight(Saved& s) {
  const Ops& ops = ops_for(s.dy.device());
  const std::int64_t tokens = s.dy.dim(0), h = s.dy.dim(1), batch = tokens / seq_len_;
  ops.embedding_backward(s.dy, s.ids.view({tokens}), vocab_begin(), wte.grad);
  ops.bias_backward(s.dy.view({batch, seq_len_ * h}), wpe.grad.view({seq_len_ * h}));
  s = Saved{};
}

}  // namespace trident
