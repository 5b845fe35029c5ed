// GPT-2's byte-level BPE tokenizer (Radford et al. 2019; openai/gpt-2 src/encoder.py), read from
// the vocab.json and merges.txt every GPT-2 folder has. Encoding a text:
//
//   1. pre-tokenise it with GPT-2's pattern (gpt2_pretokenize)
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   2. map each piece's bytes to the 256 printable stand-ins of bytes_to_unicode ("Ġ" for a space)
//   3. merge adjacent symbols, always the pair ranked first in merges.txt, until no ranked pair is left
//   4. each remaining symbol's id in vocab.json
//
// Decoding maps ids back to symbols and symbols back to bytes. End-of-text is vocab.json's
// "<|endoftext|>" (50256 in GPT-2); that string inside a text is encoded as ordinary text, never
// as the special token. Ids must fit the llm.c token files' uint16 (vocabularies up to 65536).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "experiments/data/tokenizer.h"

namespace trident {

// Step 1: the pieces of `text`, in order; they concatenate back to `text` (any bytes: invalid
// UTF-8 counts as a character of no class).
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

// Step 2's table: the UTF-8 stand-in of each byte (GPT-2's bytes_to_unicode).
const std::vector<std::string>& gpt2_byte_symbols();

class Gpt2BpeTokenizer final : public Tokenizer {
 public:
  // Throws trident::Error naming the file and the problem: unreadable, not JSON / not an object of
  // ids, ids past 65535 or repeated, no "<|endoftext|>", a byte with no symbol, a merges line that
  // is not two symbols of the vocabulary or whose merge is not in it.
  Gpt2BpeTokenizer(const std::string& vocab_path, const std::string& merges_path);

  std::string kind() const override { return "gpt2-bpe"; }
  void encode_append(std::string_view text, std::vector<std::uint16_t>& out) const override;
  std::string decode(std::span<const std::uint16_t> tokens) const override;
  std::uint16_t eot() const override { return eot_; }
  int vocab_size() const override { return static_cast<int>(symbols_.size()); }
  nlohmann::json record() const override;

 private:
  struct Merge {
    int rank;
    std::uint16_t merged;
  };
  static std::uint64_t pair_key(std::uint16_t a, std::uint16_t b) { return (std::uint64_t{a} << 16) | b; }
  void bpe(std::string_view piece, std::vector<std::uint16_t>& out) const;

  std::string vocab_path_, merges_path_;
  std::uint32_t vocab_crc_ = 0, merges_crc_ = 0;
  std::vector<std::string> symbols_;                // id -> symbol ("" for ids the vocabulary skips)
  std::uint16_t byte_ids_[256] = {};                // byte -> id of its one-byte symbol
  std::unordered_map<std::uint64_t, Merge> merges_; // (left id, right id) -> rank and merged id
  std::unordered_map<char32_t, unsigned char> decode_byte_;  // stand-in code point -> byte
  std::uint16_t eot_ = 0;
  mutable std::unordered_map<std::string, std::vector<std::uint16_t>> cache_;  // piece -> ids
};

}  // namespace trident
