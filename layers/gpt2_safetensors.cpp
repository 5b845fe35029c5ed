#include "layers/gpt2_safetensors.h"

#include <algorithm>
#include <cstring>
#include <regex>

#include "core/ops.h"
#include "layers/gather_full.h"

namespace trident {

namespace {

// Names Hugging Face files may hold beyond the model's tensors: causal-mask buffers (constants).
bool is_mask_buffer(const std::string& name) {
  static const std::regex buffer(R"(h\.\d+\.attn\.(bias|masked_bias))");
  return std::regex_match(name, buffer);
}

// "a, b, c and 4 more"
std::string first_few(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < std::min<std::size_t>(names.size(), 4); ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 4) s += " and " + std::to_string(names.size() - 4) + " more";
  return s;
}

bool equal_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.numel() * sizeof(float)) == 0;
}

}  // namespace

std::vector<std::pair<std::string, Shape>> gpt2_tensor_shapes(const GptConfig& c) {
  const std::int64_t h = c.hidden;
  std::vector<std::pair<std::string, Shape>> out = {{"wte.weight", {c.vocab, h}}, {"wpe.weight", {c.seq_len, h}}};
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string b = "h." + std::to_string(i) + ".";
    out.insert(out.end(), {{b + "ln_1.weight", {h}},
                           {b + "ln_1.bias", {h}},
                           {b + "attn.c_attn.weight", {h, 3 * h}},
                           {b + "attn.c_attn.bias", {3 * h}},
                           {b + "attn.c_proj.weight", {h, h}},
                           {b + "attn.c_proj.bias", {h}},
                           {b + "ln_2.weight", {h}},
                           {b + "ln_2.bias", {h}},
                           {b + "mlp.c_fc.weight", {h, 4 * h}},
                           {b + "mlp.c_fc.bias", {4 * h}},
                           {b + "mlp.c_proj.weight", {4 * h, h}},
                           {b + "mlp.c_proj.bias", {h}}});
  }
  out.insert(out.end(), {{"ln_f.weight", {h}}, {"ln_f.bias", {h}}});
  return out;
}

Gpt2Weights::Gpt2Weights(const std::string& path) : file_(path) {
  if (!file_.contains("wte.weight") && file_.contains("transformer.wte.weight")) prefix_ = "transformer.";
}

void Gpt2Weights::check(const GptConfig& c) const {
  std::vector<std::string> missing, extra, misshaped;
  std::vector<std::string> expected;
  for (const auto& [name, shape] : gpt2_tensor_shapes(c)) {
    expected.push_back(key(name));
    if (!file_.contains(key(name))) {
      missing.push_back(name);
      continue;
    }
    const Shape got = file_.shape(key(name));
    const DType dt = file_.dtype(key(name));
    // wpe may hold more positions than the model uses.
    const bool ok_shape = name == "wpe.weight" ? got.ndim() == 2 && got[0] >= shape[0] && got[1] == shape[1] : got == shape;
    if (!ok_shape || (dt != DType::kF32 && dt != DType::kBF16))
      misshaped.push_back("'" + name + "' is " + std::string(dtype_name(dt)) + " " + got.str() + " but this model needs f32 " +
                          shape.str());
  }
  std::sort(expected.begin(), expected.end());
  for (const std::string& n : file_.names()) {
    const std::string bare = n.starts_with(prefix_) ? n.substr(prefix_.size()) : n;
    if (std::binary_search(expected.begin(), expected.end(), n) || is_mask_buffer(bare) || n == "lm_head.weight")
      continue;
    extra.push_back(n);
  }
  std::string problems;
  auto add = [&](const char* what, const std::vector<std::string>& names) {
    if (!names.empty()) problems += std::string(problems.empty() ? "" : "; ") + what + first_few(names);
  };
  add("missing ", missing);
  add("extra ", extra);
  add("", misshaped);
  TRIDENT_CHECK(problems.empty(), file_.path(), " does not hold this model (layers ", c.layers, ", hidden ", c.hidden,
                ", heads ", c.heads, ", seq_len ", c.seq_len, ", vocab ", c.vocab, "): ", problems,
                ". Check model.* against the weights' config.json");
  if (file_.contains("lm_head.weight"))
    TRIDENT_CHECK(equal_bits(read("wte.weight", {c.vocab, c.hidden}), read("lm_head.weight", {c.vocab, c.hidden})),
                  file_.path(), ": lm_head.weight differs from wte.weight; trident's GPT ties the output layer to ",
                  "the token embedding, so untied weights cannot load");
}

Tensor Gpt2Weights::read(const std::string& name, const Shape& shape) const {
  const std::string k = name == "lm_head.weight" ? name : key(name);
  TRIDENT_CHECK(file_.contains(k), file_.path(), ": has no tensor '", name,
                "': is it a GPT-2 checkpoint of a model with these layers?");
  const Shape got = file_.shape(k);
  const DType dt = file_.dtype(k);
  const bool rows_ok = name == "wpe.weight" ? got.ndim() == 2 && got[0] >= shape[0] && got[1] == shape[1] : got == shape;
  TRIDENT_CHECK(rows_ok && (dt == DType::kF32 || dt == DType::kBF16), file_.path(), ": '", name, "' is ",
                dtype_name(dt), " ", got.str(), " but this model needs f32 ", shape.str(),
                ": the checkpoint was made for different model sizes (check model.hidden, heads, vocab, seq_len)");
  Tensor t = file_.read(k);
  if (dt == DType::kBF16) {
    Tensor f = Tensor::empty(got, DType::kF32);
    ops_for(Device::cpu()).convert(t, f);
    t = f;
  }
  return got == shape ? t : t.slice0(0, shape[0]).clone();
}

void load_gpt2_parameters(const ParameterList& params, const Gpt2Weights& weights) {
  for (Parameter* p : params) shard_from_export(*p, weights.read(p->name(), p->export_shape()), p->value);
}

void export_gpt2_safetensors(GptChunk& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (Parameter* p : model.parameters())
    tensors.emplace_back(p->name(), without_padding(*p, gather_full(*p, p->value, model.tp())));
  if (model.tp().rank() != 0) return;
  write_safetensors(path, tensors, gpt2_safetensors_metadata(model.config()));
}

std::map<std::string, std::string> gpt2_safetensors_metadata(const GptConfig& c) {
  return {{"format", "pt"},
          {"trident.layers", std::to_string(c.layers)},
          {"trident.hidden", std::to_string(c.hidden)},
          {"trident.heads", std::to_string(c.heads)},
          {"trident.seq_len", std::to_string(c.seq_len)},
          {"trident.vocab", std::to_string(c.vocab)}};
}

void import_gpt2_safetensors(GptChunk& model, const std::string& path) {
  load_gpt2_parameters(model.parameters(), Gpt2Weights(path));
  model.refresh_compute_copies();
}

}  // namespace trident
