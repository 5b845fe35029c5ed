#include "experiments/plan/model_presets.h"

namespace trident {

namespace {

struct Preset {
  const char* name;
  std::int64_t layers, hidden, heads, seq_len, vocab;
};

constexpr Preset kPublished[] = {
    {"gpt3-175b", 96, 12288, 96, 2048, 51200},  {"sp22-22b", 48, 6144, 64, 2048, 51200},
    {"sp22-530b", 105, 20480, 128, 2048, 51200}, {"sp22-1t", 128, 25600, 160, 2048, 51200},
    {"zb-1.5b", 22, 2304, 24, 1024, 50304},      {"zb-6.2b", 30, 4096, 32, 1024, 50304},
    {"zb-14.6b", 46, 5120, 40, 1024, 50304},     {"zb-28.3b", 62, 6144, 48, 1024, 50304},
};

}  // namespace

std::optional<GptConfig> published_model(std::string_view name) {
  for (const Preset& p : kPublished) {
    if (name != p.name) continue;
    GptConfig c;
    c.layers = p.layers;
    c.hidden = p.hidden;
    c.heads = p.heads;
    c.seq_len = p.seq_len;
    c.vocab = p.vocab;
    return c;
  }
  return std::nullopt;
}

std::vector<std::string> published_model_names() {
  std::vector<std::string> out;
  for (const Preset& p : kPublished) out.emplace_back(p.name);
  return out;
}

}  // namespace trident
