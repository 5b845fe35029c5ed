#include "layers/parallel_attention.h"

#include <cmath>

#include "core/ops.h"

namespace trident {

namespace {
std::int64_t heads_per_rank(const GptConfig& c, const TensorParallel& tp) {
  TRIDENT_CHECK(c.heads % tp.size() == 0, "tensor parallelism splits attention heads: model.heads ", c.heads,
                " is not divisible by tp ", tp.size(), "; choose tp dividing the number of heads");
  return c.heads / tp.size();
}
}  // namespace

ParallelAttention::ParallelAttention(const std::string& prefix, const GptConfig& c, const TensorParallel& tp,
                                     Device device)
    : c_attn(prefix + ".c_attn", c.hidden, 3 * c.hidden, 3, c.init_std, tp, device),
      // GPT-2 scales the residual projections' init by 1/sqrt(2L): two residual adds per block.
      c_proj(prefix + ".c_proj", c.hidden, c.hidden, c.init_std / std::sqrt(2.0f * static_cast<float>(c.layers)), tp,
             device),
      tp_(tp),
      seq_len_(c.seq_len),
      local_heads_(heads_per_rank(c, tp)) {}

// The core sees [B, S, 3, nh/tp, hd] and [B, S, nh/tp, hd]; the linears see [N, ·] rows.
Tensor ParallelAttention::qkv_view(const Tensor& t) const {
  return t.view({-1, seq_len_, 3, local_heads_, t.dim(-1) / (3 * local_heads_)});
}
Tensor ParallelAttention::out_view(const Tensor& t) const {
  return t.view({-1, seq_len_, local_heads_, t.dim(-1) / local_heads_});
}

void ParallelAttention::run_core(Saved& s) const {
  const Ops& ops = ops_for(s.qkv.device());
  const std::int64_t tokens = s.qkv.dim(0), batch = tokens / seq_len_;
  TRIDENT_CHECK(batch * seq_len_ == tokens, "attention: ", tokens, " tokens are not whole sequences of ", seq_len_);
  s.out = Tensor::empty({tokens, s.qkv.dim(1) / 3}, s.qkv.dtype(), s.qkv.device());
  s.stats = Tensor::empty(ops.attention_saved_shape(batch, local_heads_, seq_len_), DType::kF32, s.qkv.device());
  ops.attention_forward(qkv_view(s.qkv), local_heads_, out_view(s.out), s.stats);
}

Tensor ParallelAttention::forward(const Tensor& x, Saved& s) const {
  s.qkv = c_attn.forward(x, s.c_attn);  // [N, 3·h/tp]
  run_core(s);
  Tensor y = c_proj.forward(s.out, s.c_proj);
  if (tp_.recompute() == Recompute::kSelective) {
    // Dropped here, rebuilt in backward_input; c_proj's saved input is the same tensor.
    s.out = s.c_proj.x = s.stats = Tensor();
  }
  return y;
}

Tensor ParallelAttention::backward_input(const Tensor& dy, Saved& s) const {
  const Ops& ops = ops_for(dy.device());
  if (!s.stats.defined()) {
    run_core(s);
    s.c_proj.x = s.out;  // c_proj's saved input, for its backward halves
  }
  const Tensor dout = c_proj.backward_input(dy, s.c_proj);  // [N, h/tp]
  Tensor dqkv = Tensor::empty(s.qkv.shape(), s.qkv.dtype(), s.qkv.device());
  ops.attention_backward(out_view(dout), qkv_view(s.qkv), out_view(s.out), s.stats, local_heads_, qkv_view(dqkv));
  s.stats = Tensor();
  s.qkv = Tensor();
  s.out = Tensor();
  return c_attn.backward_input(dqkv, s.c_attn);
}

void ParallelAttention::backward_weight(Saved& s) {
  c_proj.backward_weight(s.c_proj);
  c_attn.backward_weight(s.c_attn);
}

double ParallelAttention::flops_forward(std::int64_t batch) const {
  const std::int64_t tokens = batch * seq_len_;
  const double hd_local = static_cast<double>(c_proj.weight.spec().local_shape()[0]);  // h/tp
  const double core = 2.0 * 2.0 * static_cast<double>(batch) * static_cast<double>(seq_len_) *
                      static_cast<double>(seq_len_) * hd_local;
  return c_attn.flops_forward(tokens) + core + c_proj.flops_forward(tokens);
}

}  // namespace trident
