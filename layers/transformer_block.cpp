#include "layers/transformer_block.h"

#include "core/ops.h"

namespace trident {

TransformerBlock::TransformerBlock(int index, const GptConfig& c, const TensorParallel& tp, Device device)
    : ln_1("h." + std::to_string(index) + ".ln_1", c.hidden, c.ln_eps, tp, device),
      attn("h." + std::to_string(index) + ".attn", c, tp, device),
      ln_2("h." + std::to_string(index) + ".ln_2", c.hidden, c.ln_eps, tp, device),
      mlp("h." + std::to_string(index) + ".mlp", c, tp, device),
      tp_(tp),
      seq_len_(c.seq_len) {}

Tensor TransformerBlock::run_forward(const Tensor& x, Saved& s) const {
  s.input = x;
  // x1 = x + attn(ln_1(x)) in the attention output's buffer, and ln_2(x1), in one pass.
  Tensor x1;
  const Tensor h2 = ln_2.forward_add(attn.forward(ln_1.forward(x, s.ln_1), s.attn), x, x1, s.ln_2);
  Tensor x2 = mlp.forward(h2, s.mlp);
  ops_for(x.device()).add(x2, x1, x2);
  return x2;
}

Tensor TransformerBlock::forward(const Tensor& x, Saved& s) const {
  Tensor y = run_forward(x.as_2d(), s);
  if (tp_.recompute() == Recompute::kFull) {
    const Tensor input = s.input;
    s = Saved{};
    s.input = input;
  }
  return y;
}

Tensor TransformerBlock::backward_input(const Tensor& dy, Saved& s) const {
  if (tp_.recompute() == Recompute::kFull) run_forward(s.input, s);
  // x2 = x1 + mlp(ln_2(x1)):  dx1 = dy + ln_2ᵀ(mlpᵀ(dy))
  const Tensor dx1 = ln_2.backward_input_add(mlp.backward_input(dy, s.mlp), dy, s.ln_2);
  // x1 = x + attn(ln_1(x)):   dx = dx1 + ln_1ᵀ(attnᵀ(dx1))
  Tensor dx = ln_1.backward_input_add(attn.backward_input(dx1, s.attn), dx1, s.ln_1);
  s.input = Tensor();
  return dx;
}

void TransformerBlock::backward_weight(Saved& s) {
  mlp.backward_weight(s.mlp);
  ln_2.backward_weight(s.ln_2);
  attn.backward_weight(s.attn);
  ln_1.backward_weight(s.ln_1);
  s = Saved{};
}

double TransformerBlock::flops_forward(std::int64_t batch) const {
  return attn.flops_forward(batch) + mlp.flops_forward(batch * seq_len_);
}

void TransformerBlock::collect(ParameterList& out) {
  ln_1.collect(out);
  attn.collect(out);
  ln_2.collect(out);
  mlp.collect(out);
}

}  // namespace trident
