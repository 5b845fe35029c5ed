// Byte-level tokenizer: every byte of the UTF-8 text is one token (0..255), and token 256 is
// end-of-text (EOT), which separates documents. Vocabulary 257. Needs no vocabulary file, never
// fails on any input, and decode(encode(text)) == text for every byte string.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trident {

struct ByteTokenizer {
  static constexpr std::uint16_t kEot = 256;
  static constexpr int kVocabSize = 257;
  static constexpr std::string_view kEotText = "\n<|endoftext|>\n";  // what decode writes for EOT

  // One token per byte: "é" (2 bytes) is 2 tokens. Never produces kEot.
  static std::vector<std::uint16_t> encode(std::string_view text);
  // Appends encode(text) to `out` (building a corpus without copies).
  static void encode_append(std::string_view text, std::vector<std::uint16_t>& out);
  // Bytes back, EOT as kEotText. Throws trident::Error on a token >= kVocabSize (not a byte-level
  // token file; pass one made by `trident data`).
  static std::string decode(std::span<const std::uint16_t> tokens);
};

}  // namespace trident
