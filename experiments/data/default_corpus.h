// The default corpus: real English text that every Debian machine can have without a download, the
// fortune cookie files of the `fortunes` / `fortunes-min` packages (/usr/share/games/fortunes/; with
// `fortunes` 1.99.1 on Debian 12: 43 files, 15,217 entries, 2.29 M train + 0.26 M val tokens).
// Entries become documents, byte-tokenized (vocab 257); every 10th entry goes to validation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trident {

constexpr const char* kFortunesDir = "/usr/share/games/fortunes";
constexpr int kDefaultValEvery = 10;

struct DefaultCorpus {
  std::string train_path;  // <dir>/fortunes_train.bin
  std::string val_path;    // <dir>/fortunes_val.bin
  std::int64_t train_tokens = 0, val_tokens = 0;
  bool created = false;    // false: both files existed, were valid token files and were reused
};

// The fortune text files in `fortunes_dir`, sorted by name (byte order) so the corpus is the same on
// every machine with the same package version: the regular files at its top level, without the
// index (.dat) and UTF-8 alias (.u8) files and without hidden files. Empty if the directory is absent.
std::vector<std::string> fortune_files(const std::string& fortunes_dir = kFortunesDir);

// All entries of fortune_files(fortunes_dir), in file order then entry order (split at lines "%").
std::vector<std::string> fortune_entries(const std::string& fortunes_dir = kFortunesDir);

// Returns dir/fortunes_train.bin and dir/fortunes_val.bin, creating `dir` and the files when either
// file is missing or not a valid token file (written atomically, so ranks that call it at once are
// safe). Throws trident::Error when no fortune files exist, saying to install them
// (`apt-get install fortunes`) or to pass data.train and data.val.
DefaultCorpus ensure_default_corpus(const std::string& dir, const std::string& fortunes_dir = kFortunesDir);

}  // namespace trident
