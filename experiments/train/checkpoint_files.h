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

namespace trident {

constexpr const char* kCheckpointFormat = "trident-checkpoint-1";

// CRC-32 (IEEE) of a whole file.
std::uint32_t file_crc32(const std::string& path);

// Reads <dir>/trainer.json and verifies that every listed file exists with its size and CRC-32.
// Throws trident::Error naming the checkpoint and the problem (missing, incomplete, corrupt).
nlohmann::json verify_checkpoint(const std::string& dir);

// Every tensor of a checkpoint's safetensors files, by name.
class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& dir);  // verifies first
  const nlohmann::json& manifest() const { return manifest_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const SafetensorsFile& file_of(const std::string& name) const;

 private:
  nlohmann::json manifest_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

}  // namespace trident
