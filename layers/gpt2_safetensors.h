// GPT-2 weights as safetensors with GPT-2's parameter names ("wte.weight", "h.0.attn.c_attn.weight",
// …, Conv1D layout [in, out]), full shapes and no padding: the files Hugging Face's GPT2Model
// reads and writes, independent of the layout that produced them.
//
// Reading also takes what Hugging Face writes: names under GPT2LMHeadModel's "transformer." prefix,
// the causal-mask buffers of older files ("h.N.attn.bias", "h.N.attn.masked_bias"), an
// "lm_head.weight" equal to wte (GPT-2 ties the two; an untied one is refused), bf16 tensors (read
// as f32), and a wpe with more positions than model.seq_len (the model uses the first seq_len).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "layers/gpt_chunk.h"

namespace trident {

// Every tensor of the full model in GPT-2's order, with its GPT-2 shape:
//   wte [V, h], wpe [S, h], per block i: h.i.ln_1.{weight,bias} [h], h.i.attn.c_attn.weight [h, 3h],
//   .bias [3h], h.i.attn.c_proj.weight [h, h], .bias [h], h.i.ln_2.*, h.i.mlp.c_fc.weight [h, 4h],
//   .bias [4h], h.i.mlp.c_proj.weight [4h, h], .bias [h]; then ln_f.{weight,bias} [h].
std::vector<std::pair<std::string, Shape>> gpt2_tensor_shapes(const GptConfig& config);

// The safetensors header metadata trident writes with GPT-2 weights: {"format": "pt"} (what
// Hugging Face's loader expects) and the model's shape as trident.layers/hidden/heads/seq_len/vocab.
std::map<std::string, std::string> gpt2_safetensors_metadata(const GptConfig& config);

// A safetensors file of GPT-2 weights, opened for reading.
class Gpt2Weights {
 public:
  explicit Gpt2Weights(const std::string& path);

  // The file holds exactly the full model of `config` (beyond the tolerated names above), each
  // tensor f32 or bf16 with its GPT-2 shape. Otherwise throws one trident::Error naming every
  // missing, extra and mis-shaped tensor (the first few of each kind, and how many).
  void check(const GptConfig& config) const;
  // GPT-2 tensor `name` as a host f32 tensor of `shape` (wpe: its first shape[0] rows).
  Tensor read(const std::string& name, const Shape& shape) const;
  const SafetensorsFile& file() const { return file_; }

 private:
  std::string key(const std::string& name) const { return prefix_ + name; }
  SafetensorsFile file_;
  std::string prefix_;  // "" or "transformer."
};

// Sets each parameter (any chunk, any TP rank: each takes its own shard) from the file. Call
// check() first for an error that names everything wrong at once; this names the first problem.
void load_gpt2_parameters(const ParameterList& params, const Gpt2Weights& weights);

// Collective over the model's TP group: every parameter this chunk holds is gathered to its full
// shape and TP rank 0 writes the file atomically. Metadata records the model sizes.
void export_gpt2_safetensors(GptChunk& model, const std::string& path);

// Every rank reads its own shards from the file (no communication). Every parameter of this chunk
// must be present with its GPT-2 shape (a clear error names the first that is missing or
// mismatched); tensors the chunk does not hold (other chunks' blocks, buffers like
// "h.0.attn.bias") are ignored.
void import_gpt2_safetensors(GptChunk& model, const std::string& path);

}  // namespace trident
