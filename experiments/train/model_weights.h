// Where a model's weights are read from, for `trident export`, `init_from` and `trident generate`:
//
//   a training checkpoint      <dir>/trainer.json + model-pp<r>.safetensors (checkpoint_files.h):
//                              full GPT-2-named tensors, split by the pipeline stage that wrote them
//   a Hugging Face GPT-2 folder <dir>/config.json + model.safetensors (hf_folder.h)
//
// Either way every rank reads the full tensors of the parameters it holds and keeps its own shard,
// so any layout loads weights written under any other, without communication.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/gpt2_safetensors.h"
#include "layers/parameter.h"

namespace trident {

class CheckpointReader;

class ModelWeights {
 public:
  // A checkpoint (has trainer.json; verified: sizes and CRC-32s) or a Hugging Face folder (has
  // config.json). Throws naming `dir` when it is neither, or is broken.
  explicit ModelWeights(const std::string& dir);
  ~ModelWeights();
  ModelWeights(ModelWeights&&) noexcept;

  bool is_checkpoint() const { return checkpoint_ != nullptr; }
  const std::string& dir() const { return dir_; }
  // The model the weights belong to: a checkpoint's recorded sizes and ln_eps (from its run's
  // config.json for checkpoints that predate recording it), or the folder's config.json.
  const GptConfig& config() const { return config_; }
  // Things the reader should know (a value that had to be assumed); printed by the commands.
  const std::vector<std::string>& notes() const { return notes_; }

  // Every tensor of `model` is present with its GPT-2 shape; a folder also holds nothing else and
  // its config.json agrees with `model` (check_hf_gpt2_folder). Throws naming every mismatch.
  void check(const GptConfig& model) const;
  // GPT-2 tensor `name` (host f32, `shape`).
  Tensor read(const std::string& name, const Shape& shape) const;
  // Each parameter's shard (any chunk, any TP rank).
  void load(const ParameterList& params) const;
  // All tensors of `model`, for writing them elsewhere.
  std::vector<std::pair<std::string, Tensor>> read_all(const GptConfig& model) const;

  // The tokenizer the weights were trained with, if known: a checkpoint's run records it in
  // <out_dir>/tokenizer.json (checkpoints live in <out_dir>/checkpoints/step_N); a folder in
  // trident_tokenizer.json or as vocab.json + merges.txt.
  std::optional<nlohmann::json> tokenizer_record() const;

 private:
  std::string dir_;
  GptConfig config_;
  std::vector<std::string> notes_;
  std::unique_ptr<CheckpointReader> checkpoint_;
  std::unique_ptr<Gpt2Weights> folder_;
};

// Checks `init_from` (train config) before a run starts from it: the weights open, fit `model`
// (check()), and were trained with the tokenizer that made `train_data` when both are recorded
// (kind, vocabulary size, end-of-text and, for BPE, the files' CRC-32s). Throws naming the mismatch;
// returns what the ranks compare before they start ({"dir", "checkpoint"}).
nlohmann::json check_init_from(const std::string& dir, const GptConfig& model, const std::string& train_data);

// The run directory a checkpoint was written in (<out_dir> of <out_dir>/checkpoints/step_N), or ""
// when `checkpoint_dir` is not inside one.
std::string run_dir_of_checkpoint(const std::string& checkpoint_dir);

}  // namespace trident
