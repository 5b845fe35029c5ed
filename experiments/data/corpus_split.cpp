#include "experiments/data/corpus_split.h"

#include "core/error.h"
#include "experiments/data/token_file.h"

namespace trident {

CorpusSplit write_corpus_split(const std::vector<std::string>& documents, int val_every, const std::string& train_path,
                               const std::string& val_path, const Tokenizer& tokenizer) {
  TRIDENT_CHECK(val_every >= 2, "val_every is ", val_every,
                "; it must be >= 2 (every val_every-th document goes to validation, the rest to training)");
  const auto n = static_cast<std::int64_t>(documents.size());
  TRIDENT_CHECK(n >= val_every, "the validation split is empty: ", n, " document(s) with val_every ", val_every,
                " put none in it; pass more documents (e.g. split files into entries with --split-on) or a smaller ",
                "val_every (>= 2)");
  std::vector<std::uint16_t> train, val;
  CorpusSplit split;
  for (std::int64_t i = 0; i < n; ++i) {
    const bool to_val = is_validation_document(i, val_every);
    std::vector<std::uint16_t>& out = to_val ? val : train;
    out.push_back(tokenizer.eot());
    tokenizer.encode_append(documents[static_cast<std::size_t>(i)], out);
    ++(to_val ? split.val_documents : split.train_documents);
  }
  split.train_tokens = static_cast<std::int64_t>(train.size());
  split.val_tokens = static_cast<std::int64_t>(val.size());
  write_token_file(train_path, train);
  write_token_file(val_path, val);
  for (const std::string& path : {train_path, val_path}) write_tokenizer_record(tokenizer_record_path(path), tokenizer);
  return split;
}

}  // namespace trident
