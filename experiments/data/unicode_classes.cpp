#include "experiments/data/unicode_classes.h"

#include <algorithm>
#include <iterator>

namespace trident {

namespace {

struct CodePointRange {
  char32_t first, last;
};

#include "experiments/data/unicode_classes_table.inc"

// The ranges are sorted and disjoint: the last range starting at or before c holds it, if any.
template <std::size_t N>
bool in_ranges(const CodePointRange (&ranges)[N], char32_t c) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                    [](char32_t v, const CodePointRange& r) { return v < r.first; });
  return it != std::begin(ranges) && c <= std::prev(it)->last;
}

}  // namespace

bool is_unicode_letter(char32_t c) { return c < 0x80 ? ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') : in_ranges(kLetterRanges, c); }

bool is_unicode_number(char32_t c) { return c < 0x80 ? (c >= '0' && c <= '9') : in_ranges(kNumberRanges, c); }

bool is_unicode_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

Utf8Char decode_utf8(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return {b0, 1};
  // Lead byte: sequence length and the bits it carries; then continuation bytes 10xxxxxx.
  std::size_t n = 0;
  char32_t code = 0;
  if ((b0 & 0xE0) == 0xC0) n = 2, code = b0 & 0x1F;
  else if ((b0 & 0xF0) == 0xE0) n = 3, code = b0 & 0x0F;
  else if ((b0 & 0xF8) == 0xF0) n = 4, code = b0 & 0x07;
  else return {kInvalidCodePoint, 1};
  if (pos + n > text.size()) return {kInvalidCodePoint, 1};
  for (std::size_t i = 1; i < n; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return {kInvalidCodePoint, 1};
    code = (code << 6) | (byte(pos + i) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMin[n] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return {kInvalidCodePoint, 1};
  return {code, n};
}

}  // namespace trident
