// The on-disk form of a training checkpoint, independent of the layout that wrote it:
//
//   <dir>/model-pp<r>.safetensors      GPT-2-named parameters, full shapes, no padding (per
//                                      pipeline rank that wrote them; any layout reads them all)
//   <dir>/optimizer-pp<r>.safetensors  "<name>.exp_avg" / "<name>.exp_avg_sq", full shapes
//   <dir>/trainer.json                 format, step, optimizer steps, samples consumed, model
//                                      sizes, and {file: {bytes, crc32}} of every file above
//
// A checkpoint is written into <dir>.tmp and renamed to <dir> once trainer.json (written last)
// is synced, so a <dir> that exists is complete; its checksums catch later corruption.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "layers/gpt_config.h"

namespace trident {

constexpr const char* kCheckpointFormat = "trident-checkpoint-1";

// CRC-32 (IEEE) of a whole file.
std::uint32_t file_crc32(const std::string& path);

// trainer.json, typed. Every field is checked for presence, type and range when it is read (a
// negative step would resume with a negative learning rate), each error naming the field as a JSON
// pointer ("/model/hidden").
struct CheckpointManifest {
  std::int64_t step = 0;              // optimizer steps the run had taken: [0, 2^31)
  std::int64_t optimizer_steps = 0;   // updates applied (skipped steps excluded): [0, step]
  std::int64_t samples_consumed = 0;  // global training samples used: >= 0
  std::uint64_t data_seed = 0;
  GptConfig model;                    // layers, hidden, heads, seq_len, vocab (+ ln_eps when recorded)
  bool records_ln_eps = false;
  struct File {
    std::uint64_t bytes = 0;
    std::uint32_t crc32 = 0;
  };
  std::map<std::string, File> files;  // plain file names inside the checkpoint directory
};

// The manifest `m` of checkpoint `dir`, checked field by field. Reading weights needs the format,
// step, model and files; resuming training (`training_state`) also the optimizer steps, the data
// position and seed (a checkpoint made only to carry weights may lack those).
CheckpointManifest parse_checkpoint_manifest(const nlohmann::json& m, const std::string& dir,
                                             bool training_state = true);

// Reads <dir>/trainer.json, checks its weight fields (parse_checkpoint_manifest) and verifies that every
// listed file exists with its size and CRC-32. Throws trident::Error naming the checkpoint and the
// problem (missing, incomplete, corrupt, a field out of range).
nlohmann::json verify_checkpoint(const std::string& dir);

// Every tensor of a checkpoint's safetensors files, by name.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& dir);  // verifies first
  const nlohmann::json& manifest() const { return manifest_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  std::vector<std::string> names() const;  // every tensor of every file, sorted
  const SafetensorsFile& file_of(const std::string& name) const;

 private:
  nlohmann::json manifest_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

}  // namespace trident
