#include "experiments/train/model_weights.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "experiments/train/checkpoint_files.h"
#include "experiments/train/hf_folder.h"
#include "layers/gather_full.h"

namespace trident {

namespace fs = std::filesystem;

std::string run_dir_of_checkpoint(const std::string& checkpoint_dir) {
  const fs::path p = fs::absolute(checkpoint_dir).lexically_normal();
  const fs::path parent = (p.has_filename() ? p : p.parent_path()).parent_path();
  return parent.filename() == "checkpoints" ? parent.parent_path().string() : "";
}

ModelWeights::ModelWeights(const std::string& dir) : dir_(dir) {
  const bool is_ckpt = fs::exists(fs::path(dir) / "trainer.json");
  const bool is_folder = fs::exists(fs::path(dir) / "config.json") && fs::exists(hf_weights_path(dir));
  TRIDENT_CHECK(is_ckpt || is_folder, dir,
                " is neither a training checkpoint (trainer.json + model-pp*.safetensors) nor a Hugging Face ",
                "GPT-2 folder (config.json + model.safetensors)");
  if (is_folder && !is_ckpt) {
    config_ = read_hf_gpt2_config(dir);
    folder_ = std::make_unique<Gpt2Weights>(hf_weights_path(dir));
    return;
  }
  checkpoint_ = std::make_unique<CheckpointReader>(dir);
  const nlohmann::json& m = checkpoint_->manifest().at("model");
  config_.layers = m.at("layers").get<std::int64_t>();
  config_.hidden = m.at("hidden").get<std::int64_t>();
  config_.heads = m.at("heads").get<std::int64_t>();
  config_.seq_len = m.at("seq_len").get<std::int64_t>();
  config_.vocab = m.at("vocab").get<std::int64_t>();
  if (m.contains("ln_eps")) {
    config_.ln_eps = m["ln_eps"].get<float>();
    return;
  }
  // Checkpoints written before ln_eps was recorded: the run's resolved config has it.
  const std::string run = run_dir_of_checkpoint(dir);
  const fs::path run_config = fs::path(run) / "config.json";
  if (!run.empty() && fs::exists(run_config)) {
    std::ifstream in(run_config);
    const nlohmann::json c = nlohmann::json::parse(in, nullptr, false);
    if (c.is_object() && c.contains("model") && c["model"].contains("ln_eps")) {
      config_.ln_eps = c["model"]["ln_eps"].get<float>();
      return;
    }
  }
  notes_.push_back("the checkpoint does not record model.ln_eps: assuming the default " +
                   std::to_string(config_.ln_eps));
}

ModelWeights::~ModelWeights() = default;
ModelWeights::ModelWeights(ModelWeights&&) noexcept = default;

void ModelWeights::check(const GptConfig& model) const {
  if (folder_) return check_hf_gpt2_folder(dir_, model);
  const std::pair<const char*, std::int64_t> sizes[] = {
      {"layers", model.layers}, {"hidden", model.hidden}, {"heads", model.heads}, {"seq_len", model.seq_len},
      {"vocab", model.vocab}};
  for (const auto& [key, want] : sizes) {
    const auto have = checkpoint_->manifest()["model"].value(key, std::int64_t{-1});
    TRIDENT_CHECK(have == want, "checkpoint '", dir_, "' is for model.", key, " = ", have, " but this model has ", want);
  }
  for (const auto& [name, shape] : gpt2_tensor_shapes(model)) {
    const SafetensorsFile& f = checkpoint_->file_of(name);
    TRIDENT_CHECK(f.shape(name) == shape, "checkpoint '", dir_, "': '", name, "' is ", f.shape(name).str(),
                  " but this model needs ", shape.str());
  }
}

Tensor ModelWeights::read(const std::string& name, const Shape& shape) const {
  if (folder_) return folder_->read(name, shape);
  const SafetensorsFile& f = checkpoint_->file_of(name);
  TRIDENT_CHECK(f.shape(name) == shape && f.dtype(name) == DType::kF32, "checkpoint '", dir_, "': '", name, "' is ",
                dtype_name(f.dtype(name)), " ", f.shape(name).str(), " but this model needs f32 ", shape.str());
  return f.read(name);
}

void ModelWeights::load(const ParameterList& params) const {
  for (Parameter* p : params) shard_from_export(*p, read(p->name(), p->export_shape()), p->value);
}

std::vector<std::pair<std::string, Tensor>> ModelWeights::read_all(const GptConfig& model) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, shape] : gpt2_tensor_shapes(model)) out.emplace_back(name, read(name, shape));
  return out;
}

nlohmann::json check_init_from(const std::string& dir, const GptConfig& model, const std::string& train_data) {
  std::unique_ptr<ModelWeights> opened;
  try {
    opened = std::make_unique<ModelWeights>(dir);
    opened->check(model);
  } catch (const Error& e) {
    TRIDENT_FAIL("init_from: ", e.what());
  }
  const ModelWeights& weights = *opened;
  const auto theirs = weights.tokenizer_record();
  const auto ours = read_tokenizer_record(tokenizer_record_path(train_data));
  if (theirs && ours) {
    bool same = true;
    for (const char* key : {"kind", "vocab_size", "eot", "vocab_crc32", "merges_crc32"})
      same = same && theirs->value(key, nlohmann::json()) == ours->value(key, nlohmann::json());
    TRIDENT_CHECK(same, "init_from '", dir, "' was trained with the ", theirs->value("kind", "?"), " tokenizer (vocab ",
                  theirs->value("vocab_size", 0), ") but data.train was made with the ", ours->value("kind", "?"),
                  " tokenizer (vocab ", ours->value("vocab_size", 0), "): the same ids would mean other text. ",
                  "Re-make the data with the weights' tokenizer (`trident data --vocab ... --merges ...`)");
  }
  return {{"dir", dir}, {"checkpoint", weights.is_checkpoint()}};
}

std::optional<nlohmann::json> ModelWeights::tokenizer_record() const {
  if (folder_) return hf_folder_tokenizer_record(dir_);
  const std::string run = run_dir_of_checkpoint(dir_);
  if (run.empty()) return std::nullopt;
  return read_tokenizer_record((fs::path(run) / "tokenizer.json").string());
}

}  // namespace trident
