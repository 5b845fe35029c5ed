// Documents → a train and a validation token file, split by document so that no document is in both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/data/tokenizer.h"

namespace trident {

struct CorpusSplit {
  std::int64_t train_documents = 0, val_documents = 0;
  std::int64_t train_tokens = 0, val_tokens = 0;
};

// True when document i (0-based, in corpus order) belongs to the validation split: every
// `val_every`-th document, i.e. i = val_every-1, 2·val_every-1, ...
inline bool is_validation_document(std::int64_t i, int val_every) { return (i + 1) % val_every == 0; }

// Tokenizes `documents` (byte tokenizer unless given), each document preceded by EOT (llm.c's
// convention, so EOT marks every document boundary and the start of the file), splits them with
// is_validation_document and writes both token files atomically, each with its tokenizer record
// beside it (tokenizer.h). Throws trident::Error (nothing written) when val_every < 2 or either
// split would be empty, naming the counts and the fix.
CorpusSplit write_corpus_split(const std::vector<std::string>& documents, int val_every, const std::string& train_path,
                               const std::string& val_path, const Tokenizer& tokenizer = byte_tokenizer());

}  // namespace trident
