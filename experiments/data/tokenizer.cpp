#include "experiments/data/tokenizer.h"

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/data/bpe_tokenizer.h"
#include "experiments/data/byte_tokenizer.h"

namespace trident {

namespace fs = std::filesystem;

namespace {

class ByteLevel final : public Tokenizer {
 public:
  std::string kind() const override { return "byte"; }
  void encode_append(std::string_view text, std::vector<std::uint16_t>& out) const override {
    ByteTokenizer::encode_append(text, out);
  }
  std::string decode(std::span<const std::uint16_t> tokens) const override { return ByteTokenizer::decode(tokens); }
  std::uint16_t eot() const override { return ByteTokenizer::kEot; }
  int vocab_size() const override { return ByteTokenizer::kVocabSize; }
  nlohmann::json record() const override {
    return {{"kind", kind()}, {"vocab_size", vocab_size()}, {"eot", eot()}};
  }
};

}  // namespace

std::vector<std::uint16_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::uint16_t> out;
  encode_append(text, out);
  return out;
}

const Tokenizer& byte_tokenizer() {
  static const ByteLevel byte;
  return byte;
}

std::unique_ptr<Tokenizer> load_tokenizer(const nlohmann::json& record, const std::string& where) {
  const std::string kind = record.is_object() ? record.value("kind", "") : "";
  if (kind == "byte") return std::make_unique<ByteLevel>();
  TRIDENT_CHECK(kind == "gpt2-bpe", where, ": tokenizer kind '", kind, "' is not one of byte, gpt2-bpe");
  const std::string vocab = record.value("vocab", ""), merges = record.value("merges", "");
  auto bpe = std::make_unique<Gpt2BpeTokenizer>(vocab, merges);
  // The files must be the ones the record was made with (same CRC-32), or the ids would not match.
  const nlohmann::json now = bpe->record();
  for (const char* key : {"vocab_crc32", "merges_crc32"})
    TRIDENT_CHECK(record.value(key, 0u) == now.value(key, 0u), where, ": ", key == std::string("vocab_crc32") ? vocab : merges,
                  " has changed since the tokens were made (CRC-32 ", now.value(key, 0u), ", recorded ",
                  record.value(key, 0u), "); pass the original files with --vocab and --merges");
  return bpe;
}

std::string tokenizer_record_path(const std::string& token_file) {
  fs::path p(token_file);
  if (p.extension() == ".bin") p.replace_extension();
  return p.string() + ".tokenizer.json";
}

void write_tokenizer_record(const std::string& path, const Tokenizer& tokenizer) {
  const std::string text = tokenizer.record().dump(2) + "\n";
  write_file_atomically(path, {{text.data(), text.size()}}, "write_tokenizer_record");
}

std::optional<nlohmann::json> read_tokenizer_record(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  std::ifstream in(path);
  nlohmann::json record;
  try {
    record = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    TRIDENT_FAIL("tokenizer record ", path, " does not parse (", e.what(), "); delete it or re-create the data");
  }
  TRIDENT_CHECK(record.is_object() && record.contains("kind"), "tokenizer record ", path,
                " has no \"kind\"; delete it or re-create the data with `trident data`");
  return record;
}

}  // namespace trident
