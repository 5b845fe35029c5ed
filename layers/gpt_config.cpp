#include "layers/gpt_config.h"

#include "core/error.h"

namespace trident {

GptConfig GptConfig::mini() { return GptConfig{}; }

GptConfig GptConfig::small() {
  GptConfig c;
  c.layers = 12;
  c.hidden = 768;
  c.heads = 12;
  c.seq_len = 1024;
  c.vocab = 50304;
  return c;
}

void GptConfig::validate() const {
  TRIDENT_CHECK(layers >= 1, "model.layers is ", layers, ": use at least 1");
  TRIDENT_CHECK(hidden >= 1, "model.hidden is ", hidden, ": use at least 1");
  TRIDENT_CHECK(heads >= 1, "model.heads is ", heads, ": use at least 1");
  TRIDENT_CHECK(seq_len >= 1, "model.seq_len is ", seq_len, ": use at least 1");
  TRIDENT_CHECK(vocab >= 2, "model.vocab is ", vocab, ": use at least 2");
  TRIDENT_CHECK(hidden % heads == 0, "model.hidden ", hidden, " is not divisible by model.heads ", heads,
                ": pick heads that divide hidden (head_dim = hidden / heads)");
  TRIDENT_CHECK(ln_eps > 0 && init_std > 0, "model.ln_eps and model.init_std must be positive");
}

std::int64_t GptConfig::parameter_count() const {
  const std::int64_t h = hidden;
  // Per block: ln_1 and ln_2 (2·2h), c_attn (h·3h + 3h), attn c_proj (h² + h), c_fc (4h² + 4h), mlp c_proj (4h² + h).
  const std::int64_t block = 12 * h * h + 13 * h;
  return vocab * h + seq_len * h + layers * block + 2 * h;
}

double GptConfig::flops_per_step(std::int64_t batch) const {
  const double B = static_cast<double>(batch), s = static_cast<double>(seq_len), L = static_cast<double>(layers);
  const double h = static_cast<double>(hidden), V = static_cast<double>(vocab);
  return 72.0 * B * s * L * h * h * (1.0 + s / (6.0 * h) + V / (12.0 * h * L));
}

}  // namespace trident
