#include "experiments/train/checkpoint_files.h"

#include <boost/crc.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"

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

nlohmann::json verify_checkpoint(const std::string& dir) {
  TRIDENT_CHECK(fs::is_directory(dir), "checkpoint '", dir, "' is not a directory");
  const std::string index = (fs::path(dir) / "trainer.json").string();
  TRIDENT_CHECK(fs::exists(index), "checkpoint '", dir,
                "' has no trainer.json: it is incomplete (a crashed save leaves only <dir>.tmp) or not a checkpoint");
  nlohmann::json m;
  try {
    std::ifstream in(index);
    m = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    TRIDENT_FAIL("checkpoint '", dir, "': trainer.json does not parse: ", e.what());
  }
  TRIDENT_CHECK(m.value("format", "") == kCheckpointFormat, "checkpoint '", dir, "': format '",
                m.value("format", "?"), "' is not ", kCheckpointFormat);
  TRIDENT_CHECK(m.contains("files") && m["files"].is_object() && !m["files"].empty(), "checkpoint '", dir,
                "': trainer.json lists no files");
  for (const auto& [name, info] : m["files"].items()) {
    const std::string path = (fs::path(dir) / name).string();
    TRIDENT_CHECK(fs::exists(path), "checkpoint '", dir, "': ", name, " is missing");
    const auto bytes = static_cast<std::uint64_t>(fs::file_size(path));
    TRIDENT_CHECK(bytes == info.at("bytes").get<std::uint64_t>(), "checkpoint '", dir, "': ", name, " has ", bytes,
                  " bytes but trainer.json records ", info.at("bytes").get<std::uint64_t>(), ": the file is corrupt");
    const std::uint32_t crc = file_crc32(path);
    TRIDENT_CHECK(crc == info.at("crc32").get<std::uint32_t>(), "checkpoint '", dir, "': ", name,
                  " fails its CRC-32 check (", crc, " != ", info.at("crc32").get<std::uint32_t>(),
                  "): the file is corrupt; use an earlier checkpoint");
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

const SafetensorsFile& CheckpointReader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  TRIDENT_CHECK(it != where_.end(), "checkpoint has no tensor '", name,
                "': it was written for a different model (check model.layers)");
  return *it->second;
}

}  // namespace trident
