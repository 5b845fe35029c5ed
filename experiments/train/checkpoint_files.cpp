#include "experiments/train/checkpoint_files.h"

#include <boost/crc.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "experiments/plan/json_file.h"

namespace trident {

namespace fs = std::filesystem;

std::uint32_t file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TRIDENT_CHECK(in.good(), "cannot read '", path, "'");
  boost::crc_32_type crc;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    crc.process_bytes(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return crc.checksum();
}

CheckpointManifest parse_checkpoint_manifest(const nlohmann::json& m, const std::string& dir, bool training_state) {
  constexpr std::int64_t kMaxSteps = std::numeric_limits<std::int32_t>::max();  // TrainConfig::steps is an int
  constexpr std::int64_t kMaxSize = std::int64_t{1} << 40;
  const JsonFields f(m, "checkpoint '" + dir + "' (trainer.json)",
                     "the manifest is damaged or was not written by trident: resume from another checkpoint");
  const std::string format = f.string("format");
  if (format != kCheckpointFormat) f.fail("format", "is '" + format + "', not " + kCheckpointFormat);
  CheckpointManifest out;
  out.step = f.integer("step", 0, kMaxSteps);
  if (training_state) {
    out.optimizer_steps = f.integer("optimizer_steps", 0, out.step);
    out.samples_consumed = f.integer("samples_consumed", 0, std::numeric_limits<std::int64_t>::max());
    out.data_seed = f.unsigned_integer("data_seed", std::numeric_limits<std::uint64_t>::max());
  }
  const JsonFields model = f.object("model");
  out.model.layers = model.integer("layers", 1, kMaxSize);
  out.model.hidden = model.integer("hidden", 1, kMaxSize);
  out.model.heads = model.integer("heads", 1, kMaxSize);
  out.model.seq_len = model.integer("seq_len", 1, kMaxSize);
  out.model.vocab = model.integer("vocab", 2, kMaxSize);
  if ((out.records_ln_eps = model.contains("ln_eps")))
    out.model.ln_eps = static_cast<float>(model.number("ln_eps", 1e-30, 1.0));
  const JsonFields files = f.object("files");
  if (files.json().empty()) f.fail("files", "is empty: a checkpoint lists the files it holds");
  for (const auto& [name, info] : files.json().items()) {
    // Names come from a file on disk: only plain names inside `dir`, never a path out of it.
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      files.fail(name, "is not a plain file name inside the checkpoint directory");
    const JsonFields file = files.object(name);
    out.files[name] = {file.unsigned_integer("bytes", std::numeric_limits<std::uint64_t>::max()),
                       static_cast<std::uint32_t>(file.unsigned_integer("crc32", 0xffffffffu))};
  }
  return out;
}

nlohmann::json verify_checkpoint(const std::string& dir) {
  TRIDENT_CHECK(fs::is_directory(dir), "checkpoint '", dir, "' is not a directory");
  const std::string index = (fs::path(dir) / "trainer.json").string();
  TRIDENT_CHECK(fs::exists(index), "checkpoint '", dir,
                "' has no trainer.json: it is incomplete (a crashed save leaves only <dir>.tmp) or not a checkpoint");
  nlohmann::json m = read_json_file(index, "checkpoint manifest");
  const CheckpointManifest manifest = parse_checkpoint_manifest(m, dir, /*training_state=*/false);
  for (const auto& [name, info] : manifest.files) {
    const std::string path = (fs::path(dir) / name).string();
    TRIDENT_CHECK(fs::is_regular_file(path), "checkpoint '", dir, "': ", name, " is missing");
    const auto bytes = static_cast<std::uint64_t>(fs::file_size(path));
    TRIDENT_CHECK(bytes == info.bytes, "checkpoint '", dir, "': ", name, " has ", bytes,
                  " bytes but trainer.json records ", info.bytes, ": the file is corrupt");
    const std::uint32_t crc = file_crc32(path);
    TRIDENT_CHECK(crc == info.crc32, "checkpoint '", dir, "': ", name, " fails its CRC-32 check (", crc,
                  " != ", info.crc32, "): the file is corrupt; use an earlier checkpoint");
  }
  return m;
}

CheckpointReader::CheckpointReader(const std::string& dir) : manifest_(verify_checkpoint(dir)) {
  for (const auto& [name, info] : manifest_["files"].items()) {
    if (!name.ends_with(".safetensors")) continue;
    files_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / name).string()));
    for (const std::string& t : files_.back()->names()) where_.emplace(t, files_.back().get());
  }
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

const SafetensorsFile& CheckpointReader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  TRIDENT_CHECK(it != where_.end(), "checkpoint has no tensor '", name,
                "': it was written for a different model (check model.layers)");
  return *it->second;
}

}  // namespace trident
