// GPT-2 weights as safetensors with GPT-2's parameter names ("wte.weight", "h.0.attn.c_attn.weight",
// …, Conv1D layout [in, out]), full shapes and no padding: the files Hugging Face's GPT2Model
// reads and writes, independent of the layout that produced them.
#pragma once

#include <string>

#include "layers/gpt_chunk.h"

namespace trident {

// Collective over the model's TP group: every parameter this chunk holds is gathered to its full
// shape and TP rank 0 writes the file atomically. Metadata records the model sizes.
void export_gpt2_safetensors(GptChunk& model, const std::string& path);

// Every rank reads its own shards from the file (no communication). Every parameter of this chunk
// must be present with its GPT-2 shape (a clear error names the first that is missing or
// mismatched); tensors the chunk does not hold (other chunks' blocks, buffers like
// "h.0.attn.bias") are ignored.
void import_gpt2_safetensors(GptChunk& model, const std::string& path);

}  // namespace trident
