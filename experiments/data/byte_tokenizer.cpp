#include "experiments/data/byte_tokenizer.h"

#include "core/error.h"

namespace trident {

std::vector<std::uint16_t> ByteTokenizer::encode(std::string_view text) {
  std::vector<std::uint16_t> out;
  encode_append(text, out);
  return out;
}

void ByteTokenizer::encode_append(std::string_view text, std::vector<std::uint16_t>& out) {
  out.reserve(out.size() + text.size());
  for (const char c : text) out.push_back(static_cast<unsigned char>(c));
}

std::string ByteTokenizer::decode(std::span<const std::uint16_t> tokens) {
  std::string out;
  out.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::uint16_t t = tokens[i];
    TRIDENT_CHECK(t <= kEot, "byte tokenizer: token ", t, " at position ", i, " is outside the vocabulary 0..",
                  kEot, " (bytes and EOT); the tokens come from another tokenizer");
    if (t == kEot)
      out += kEotText;
    else
      out.push_back(static_cast<char>(static_cast<unsigned char>(t)));
  }
  return out;
}

}  // namespace trident
