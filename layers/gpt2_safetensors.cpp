#include "layers/gpt2_safetensors.h"

#include "core/safetensors.h"
#include "layers/gather_full.h"

namespace trident {

void export_gpt2_safetensors(GptChunk& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (Parameter* p : model.parameters())
    tensors.emplace_back(p->name(), without_padding(*p, gather_full(*p, p->value, model.tp())));
  if (model.tp().rank() != 0) return;
  const GptConfig& c = model.config();
  write_safetensors(path, tensors,
                    {{"format", "pt"},
                     {"trident.layers", std::to_string(c.layers)},
                     {"trident.hidden", std::to_string(c.hidden)},
                     {"trident.heads", std::to_string(c.heads)},
                     {"trident.seq_len", std::to_string(c.seq_len)},
                     {"trident.vocab", std::to_string(c.vocab)}});
}

void import_gpt2_safetensors(GptChunk& model, const std::string& path) {
  const SafetensorsFile file(path);
  for (Parameter* p : model.parameters()) {
    TRIDENT_CHECK(file.contains(p->name()), path, ": has no tensor '", p->name(),
                  "': is it a GPT-2 checkpoint of a model with these layers?");
    TRIDENT_CHECK(file.shape(p->name()) == p->export_shape() && file.dtype(p->name()) == DType::kF32, path, ": '",
                  p->name(), "' is ", dtype_name(file.dtype(p->name())), " ", file.shape(p->name()).str(),
                  " but this model needs f32 ", p->export_shape().str(),
                  ": the checkpoint was made for different model sizes (check model.hidden, heads, vocab, seq_len)");
    // Full tensor with vocabulary padding rows (zero), then this rank's slice of it.
    Tensor full = Tensor::zeros(p->full_shape());
    file.read_into(p->name(), full.slice0(0, p->valid_rows()));
    p->value.copy_from(extract_shard(full, p->spec()).to(p->value.device()));
  }
}

}  // namespace trident
