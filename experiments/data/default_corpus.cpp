#include "experiments/data/default_corpus.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>
#include <system_error>

#include "core/error.h"
#include "experiments/data/corpus_split.h"
#include "experiments/data/documents.h"
#include "experiments/data/token_file.h"

namespace trident {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The file as a token file, or nothing when it is missing or invalid (then it is rebuilt).
std::optional<TokenFile> open_if_valid(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return TokenFile(path);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

std::vector<std::string> fortune_files(const std::string& fortunes_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_directory(fortunes_dir, ec)) return files;
  for (const fs::directory_entry& e : fs::directory_iterator(fortunes_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || ends_with(name, ".dat") || ends_with(name, ".u8")) continue;
    if (!e.is_regular_file(ec)) continue;  // subdirectories (e.g. off/) and dangling links
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> fortune_entries(const std::string& fortunes_dir) {
  std::vector<std::string> entries;
  for (const std::string& file : fortune_files(fortunes_dir)) {
    std::vector<std::string> part = split_documents(read_text_file(file), "%");
    entries.insert(entries.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return entries;
}

DefaultCorpus ensure_default_corpus(const std::string& dir, const std::string& fortunes_dir) {
  DefaultCorpus corpus;
  corpus.train_path = (fs::path(dir) / "fortunes_train.bin").string();
  corpus.val_path = (fs::path(dir) / "fortunes_val.bin").string();
  const std::optional<TokenFile> train = open_if_valid(corpus.train_path), val = open_if_valid(corpus.val_path);
  if (train && val) {
    corpus.train_tokens = train->size();
    corpus.val_tokens = val->size();
    for (const std::string& path : {corpus.train_path, corpus.val_path})  // corpora made before records existed
      if (!read_tokenizer_record(tokenizer_record_path(path))) write_tokenizer_record(tokenizer_record_path(path), byte_tokenizer());
    return corpus;
  }

  const std::vector<std::string> entries = fortune_entries(fortunes_dir);
  TRIDENT_CHECK(!entries.empty(), "the default corpus needs the fortune text files in ", fortunes_dir,
                ", but there are none; install them (`apt-get install fortunes`, or `fortunes-min`) or pass your own ",
                "token files as data.train and data.val (make them with `trident data`)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  TRIDENT_CHECK(!ec, "cannot create the default corpus directory ", dir, ": ", ec.message());
  const CorpusSplit split = write_corpus_split(entries, kDefaultValEvery, corpus.train_path, corpus.val_path);
  corpus.train_tokens = split.train_tokens;
  corpus.val_tokens = split.val_tokens;
  corpus.created = true;
  return corpus;
}

}  // namespace trident
