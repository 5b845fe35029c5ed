// The tokenizers trident turns text into token ids with, behind one interface, and the record that
// says which one made a token file, so that training runs, exports and `trident generate` decode
// with the same one:
//
//   byte      ByteTokenizer: every byte a token, end-of-text 256 (vocab 257); needs no files; the default
//   gpt2-bpe  Gpt2BpeTokenizer: GPT-2's byte-level BPE from its vocab.json and merges.txt (EOT 50256)
//
// The record is JSON, written beside each token file (tokenizer_record_path) and into a training
// run's out_dir as tokenizer.json:
//   {"kind": "byte", "vocab_size": 257, "eot": 256}
//   {"kind": "gpt2-bpe", "vocab_size": 50257, "eot": 50256,
//    "vocab": "/abs/vocab.json", "vocab_crc32": N, "merges": "/abs/merges.txt", "merges_crc32": N}
// A BPE record names its files by absolute path with their CRC-32, so a moved or edited file is an
// error naming it rather than a silently different tokenization.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace trident {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "byte" | "gpt2-bpe"
  // Appends the ids of `text` (never the end-of-text token: documents are separated by the caller).
  virtual void encode_append(std::string_view text, std::vector<std::uint16_t>& out) const = 0;
  std::vector<std::uint16_t> encode(std::string_view text) const;
  // The text of `tokens`; throws trident::Error naming a token outside the vocabulary.
  virtual std::string decode(std::span<const std::uint16_t> tokens) const = 0;
  virtual std::uint16_t eot() const = 0;  // end-of-text id
  virtual int vocab_size() const = 0;     // ids are < vocab_size(); a model needs model.vocab >= it
  virtual nlohmann::json record() const = 0;
};

const Tokenizer& byte_tokenizer();  // stateless; one instance
// Opens the tokenizer a record describes. `where` names the record's origin in errors.
std::unique_ptr<Tokenizer> load_tokenizer(const nlohmann::json& record, const std::string& where);

// <file>.tokenizer.json for <file>.bin (the ".bin" replaced), else <file>.tokenizer.json.
std::string tokenizer_record_path(const std::string& token_file);
// Writes tokenizer.record() to `path` atomically.
void write_tokenizer_record(const std::string& path, const Tokenizer& tokenizer);
// The record at `path`, or nothing when the file does not exist (llm.c's token files have none).
// Throws trident::Error naming the path when it exists but is not a record.
std::optional<nlohmann::json> read_tokenizer_record(const std::string& path);

}  // namespace trident
