#include "experiments/train/hf_folder.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "experiments/data/bpe_tokenizer.h"
#include "experiments/train/metrics.h"
#include "layers/gpt2_safetensors.h"

namespace trident {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTokenizerRecord = "trident_tokenizer.json";

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  TRIDENT_CHECK(in.good(), "cannot read ", path, ": a Hugging Face GPT-2 folder has config.json and model.safetensors");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    TRIDENT_FAIL(path, " does not parse: ", e.what());
  }
}

}  // namespace

std::string hf_weights_path(const std::string& dir) { return (fs::path(dir) / "model.safetensors").string(); }

nlohmann::json hf_gpt2_config(const GptConfig& c, int eot) {
  // Dropout is 0: trident trains without it, so the exported model computes what trident computed.
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"vocab_size", c.vocab},
          {"n_positions", c.seq_len},
          {"n_ctx", c.seq_len},
          {"n_embd", c.hidden},
          {"n_layer", c.layers},
          {"n_head", c.heads},
          {"n_inner", nullptr},
          {"activation_function", "gelu_new"},
          {"layer_norm_epsilon", c.ln_eps},
          {"initializer_range", c.init_std},
          {"resid_pdrop", 0.0},
          {"embd_pdrop", 0.0},
          {"attn_pdrop", 0.0},
          {"scale_attn_weights", true},
          {"scale_attn_by_inverse_layer_idx", false},
          {"reorder_and_upcast_attn", false},
          {"tie_word_embeddings", true},
          {"bos_token_id", eot},
          {"eos_token_id", eot},
          {"use_cache", true},
          {"torch_dtype", "float32"}};
}

GptConfig read_hf_gpt2_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  const nlohmann::json j = read_json_file(path);
  TRIDENT_CHECK(j.is_object() && j.value("model_type", "gpt2") == "gpt2", path, ": model_type is ",
                j.value("model_type", std::string("?")), ", not gpt2; trident loads GPT-2 models only");
  auto integer = [&](const char* key) {
    TRIDENT_CHECK(j.contains(key) && j[key].is_number_integer(), path, ": \"", key, "\" is missing or not an integer");
    return j[key].get<std::int64_t>();
  };
  GptConfig c;
  c.layers = integer("n_layer");
  c.hidden = integer("n_embd");
  c.heads = integer("n_head");
  c.seq_len = integer("n_positions");
  c.vocab = integer("vocab_size");
  c.ln_eps = j.value("layer_norm_epsilon", 1e-5f);
  // The GPT-2 variants trident's layers do not compute.
  const std::string act = j.value("activation_function", "gelu_new");
  TRIDENT_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh", path, ": activation_function is ", act,
                "; trident's GPT uses GELU's tanh form (gelu_new)");
  TRIDENT_CHECK(!j.contains("n_inner") || j["n_inner"].is_null() || j["n_inner"] == 4 * c.hidden, path,
                ": n_inner is ", j["n_inner"].dump(), "; trident's MLP is 4 * n_embd = ", 4 * c.hidden, " wide");
  TRIDENT_CHECK(j.value("tie_word_embeddings", true), path,
                ": tie_word_embeddings is false; trident's output layer is the token embedding (tied)");
  TRIDENT_CHECK(j.value("scale_attn_weights", true) && !j.value("scale_attn_by_inverse_layer_idx", false), path,
                ": attention scaling other than 1/sqrt(head_dim) (scale_attn_weights false or ",
                "scale_attn_by_inverse_layer_idx true) is not what trident computes");
  c.validate();
  return c;
}

void write_hf_gpt2_folder(const std::string& dir, const GptConfig& config,
                          const std::vector<std::pair<std::string, Tensor>>& tensors, const Tokenizer* tokenizer) {
  TRIDENT_CHECK(!fs::exists(dir), "export: ", dir, " already exists; remove it or choose another --out");
  const fs::path tmp = dir + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_safetensors(hf_weights_path(tmp.string()), tensors, gpt2_safetensors_metadata(config));
  write_json_atomic((tmp / "config.json").string(), hf_gpt2_config(config, tokenizer ? tokenizer->eot() : 0));
  if (tokenizer) {
    nlohmann::json record = tokenizer->record();
    if (tokenizer->kind() == "gpt2-bpe") {
      // The folder's own copies, recorded by their final paths (same bytes, so the same CRC-32).
      const fs::path final_dir = fs::absolute(dir).lexically_normal();
      for (const char* key : {"vocab", "merges"}) {
        const std::string name = key == std::string("vocab") ? "vocab.json" : "merges.txt";
        fs::copy_file(record.at(key).get<std::string>(), tmp / name);
        record[key] = (final_dir / name).string();
      }
    }
    write_json_atomic((tmp / kTokenizerRecord).string(), record);
  }
  fs::rename(tmp, dir);
}

void check_hf_gpt2_folder(const std::string& dir, const GptConfig& model) {
  const GptConfig f = read_hf_gpt2_config(dir);
  std::string problems;
  auto differ = [&](const char* ours, std::int64_t want, const char* theirs, std::int64_t got) {
    if (want != got)
      problems += "; model." + std::string(ours) + " is " + std::to_string(want) + " but " + theirs + " is " +
                  std::to_string(got);
  };
  differ("layers", model.layers, "n_layer", f.layers);
  differ("hidden", model.hidden, "n_embd", f.hidden);
  differ("heads", model.heads, "n_head", f.heads);
  differ("vocab", model.vocab, "vocab_size", f.vocab);
  if (model.seq_len > f.seq_len)
    problems += "; model.seq_len " + std::to_string(model.seq_len) + " exceeds n_positions " +
                std::to_string(f.seq_len) + " (the position table has no rows past it)";
  if (std::abs(model.ln_eps - f.ln_eps) > 1e-6f * std::max(model.ln_eps, f.ln_eps))
    problems += "; model.ln_eps is " + std::to_string(model.ln_eps) + " but layer_norm_epsilon is " +
                std::to_string(f.ln_eps);
  TRIDENT_CHECK(problems.empty(), dir, "/config.json does not describe this model: ", problems.substr(2),
                "; set model.* to the folder's values");
  Gpt2Weights(hf_weights_path(dir)).check(model);
}

std::optional<nlohmann::json> hf_folder_tokenizer_record(const std::string& dir) {
  if (auto r = read_tokenizer_record((fs::path(dir) / kTokenizerRecord).string())) return r;
  const fs::path vocab = fs::path(dir) / "vocab.json", merges = fs::path(dir) / "merges.txt";
  if (fs::exists(vocab) && fs::exists(merges)) return Gpt2BpeTokenizer(vocab.string(), merges.string()).record();
  return std::nullopt;
}

}  // namespace trident
