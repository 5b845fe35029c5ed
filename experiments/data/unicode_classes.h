// The Unicode character classes GPT-2's pre-tokenisation pattern is written in (\p{L}, \p{N}, \s),
// and UTF-8 decoding that never fails: std::regex knows none of these classes, so the pattern is
// matched by hand (bpe_tokenizer.cpp) over code points decoded here.
#pragma once

#include <cstddef>
#include <string_view>

namespace trident {

// \p{L}: a letter (general category L*), from a table generated from Unicode 14.0
// (gen_unicode_classes.py).
bool is_unicode_letter(char32_t c);
// \p{N}: a number (Nd, Nl, No).
bool is_unicode_number(char32_t c);
// \s: Unicode White_Space (tab..CR, space, NEL, NBSP, U+1680, U+2000..U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000), the class tiktoken's and Hugging Face's GPT-2 pattern use.
bool is_unicode_space(char32_t c);

// A code point and the bytes it took. An invalid or truncated UTF-8 sequence decodes one byte at a
// time as kInvalidCodePoint (a class of its own: not a letter, number or space), so every byte
// string splits into pieces that concatenate back to it.
struct Utf8Char {
  char32_t code = 0;
  std::size_t bytes = 1;
};
constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;
// The character starting at text[pos] (pos < text.size()).
Utf8Char decode_utf8(std::string_view text, std::size_t pos);

}  // namespace trident
