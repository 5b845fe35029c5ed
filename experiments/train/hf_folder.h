// Hugging Face GPT-2 folders: what `trident export` writes and `init_from` / `trident generate` read.
//
//   <dir>/config.json              GPT2Config: n_layer, n_embd, n_head, n_positions, vocab_size,
//                                  layer_norm_epsilon, activation_function "gelu_new", tied embeddings
//   <dir>/model.safetensors        GPT-2 names, Conv1D layouts, full f32 tensors (gpt2_safetensors.h)
//   <dir>/vocab.json, merges.txt   GPT-2 BPE runs only: the tokenizer, as Hugging Face folders hold it
//   <dir>/trident_tokenizer.json   the tokenizer record (tokenizer.h); the byte tokenizer has no
//                                  Hugging Face form, so this is the only trace of it
//
// This is the layout transformers' GPT2LMHeadModel.from_pretrained(dir) reads (it ties lm_head to
// wte and adds the "transformer." prefix itself); tests/check_hf_export.py checks the logits in
// plain PyTorch. Folders from Hugging Face load here too: a real GPT-2 folder needs
// model.vocab = 50257 and model.seq_len <= 1024.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "experiments/data/tokenizer.h"
#include "layers/gpt_config.h"

namespace trident {

// config.json for `config` (eot: the tokenizer's end-of-text id, GPT-2's bos/eos).
nlohmann::json hf_gpt2_config(const GptConfig& config, int eot);

// The model a folder's config.json describes (seed and init_std are not the weights' concern:
// defaults). Throws naming the key when it is missing, of the wrong type, or describes a GPT-2
// variant trident does not compute (another activation, n_inner != 4·n_embd, untied embeddings,
// unscaled or layer-scaled attention).
GptConfig read_hf_gpt2_config(const std::string& dir);

// Writes the folder: `tensors` are the full model's GPT-2 tensors (host f32, in any order);
// `tokenizer` (may be null: no tokenizer files) is copied in. Everything goes to <dir>.tmp first,
// renamed to <dir> when complete. Refuses an existing <dir> (nothing is overwritten).
void write_hf_gpt2_folder(const std::string& dir, const GptConfig& config,
                          const std::vector<std::pair<std::string, Tensor>>& tensors, const Tokenizer* tokenizer);

// Checks that the folder can initialise `model`: config.json's sizes equal model.layers, hidden,
// heads and vocab, its n_positions >= model.seq_len, its layer_norm_epsilon equals model.ln_eps, and
// model.safetensors holds exactly the model's tensors (Gpt2Weights::check). Throws one error naming
// the folder and every mismatch.
void check_hf_gpt2_folder(const std::string& dir, const GptConfig& model);

// The folder's tokenizer: its trident_tokenizer.json, else its vocab.json + merges.txt (GPT-2
// BPE), else none.
std::optional<nlohmann::json> hf_folder_tokenizer_record(const std::string& dir);

std::string hf_weights_path(const std::string& dir);  // <dir>/model.safetensors

}  // namespace trident
