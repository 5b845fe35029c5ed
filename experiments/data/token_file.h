// llm.c's token file (karpathy/llm.c dev/data/data_common.py, write_datafile), so that trident reads
// the files llm.c's data scripts make and llm.c reads ours:
//
//   header: 256 little-endian int32 (1024 bytes), zero except
//     header[0] = 20240520   magic
//     header[1] = 1          version: GPT-2 style, uint16 tokens
//     header[2] = N          number of tokens (< 2^31)
//   tokens: N little-endian uint16 (2·N bytes), so the file is exactly 1024 + 2·N bytes.
//
// (llm.c's LLaMA-3 files, magic 20240801 with uint32 tokens, are recognised and refused by name.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace trident {

constexpr std::int32_t kTokenFileMagic = 20240520;
constexpr std::int32_t kTokenFileVersion = 1;
constexpr int kTokenFileHeaderInts = 256;
constexpr std::size_t kTokenFileHeaderBytes = kTokenFileHeaderInts * sizeof(std::int32_t);

// Writes `tokens` as a token file, atomically (temp + fsync + rename): a reader never sees a part
// of it. The directory must exist. Throws trident::Error naming the path when the tokens do not
// fit the format (2^31 - 1 at most) or the file cannot be written.
void write_token_file(const std::string& path, const std::vector<std::uint16_t>& tokens);

// An opened, validated token file. All tokens are read into memory when it opens: the files trident
// trains on here are small (the default corpus is ~3 MB), and random windows then cost no I/O.
// Copies share the tokens (cheap; immutable).
class TokenFile {
 public:
  // Throws trident::Error naming the path, what was expected, what was found and the fix when the
  // file cannot be read, is shorter than the header, has a bad magic or an unsupported version, or
  // holds more or fewer bytes than its header's token count says (truncated / oversized).
  explicit TokenFile(const std::string& path);

  const std::string& path() const { return path_; }
  std::int64_t size() const { return static_cast<std::int64_t>(tokens_->size()); }  // N
  std::span<const std::uint16_t> tokens() const { return *tokens_; }
  std::uint16_t operator[](std::int64_t i) const { return (*tokens_)[static_cast<std::size_t>(i)]; }
  // The largest token id in the file (0 when empty): the trainer checks it against the model's vocab.
  std::uint16_t max_token() const { return max_token_; }

 private:
  std::string path_;
  std::shared_ptr<const std::vector<std::uint16_t>> tokens_;
  std::uint16_t max_token_ = 0;
};

}  // namespace trident
