#include "experiments/data/bpe_tokenizer.h"

#include <boost/crc.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "experiments/data/unicode_classes.h"

namespace trident {

namespace {

// ---- step 1: GPT-2's pre-tokenisation pattern, matched by hand ---------------------------------

enum class CharClass { kLetter, kNumber, kSpace, kOther };

CharClass class_of(char32_t c) {
  if (c == kInvalidCodePoint) return CharClass::kOther;
  if (is_unicode_letter(c)) return CharClass::kLetter;
  if (is_unicode_number(c)) return CharClass::kNumber;
  if (is_unicode_space(c)) return CharClass::kSpace;
  return CharClass::kOther;
}

// Bytes of the longest run of characters of class `k` starting at `pos` (0 if none).
std::size_t run_of(std::string_view text, std::size_t pos, CharClass k) {
  std::size_t end = pos;
  while (end < text.size()) {
    const Utf8Char c = decode_utf8(text, end);
    if (class_of(c.code) != k) break;
    end += c.bytes;
  }
  return end - pos;
}

// Bytes of the pattern's match at `pos`: its alternatives in order, the first that matches wins.
std::size_t match_at(std::string_view text, std::size_t pos) {
  // 's|'t|'re|'ve|'m|'ll|'d  (case-sensitive, ASCII apostrophe)
  if (text[pos] == '\'') {
    for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"})
      if (text.substr(pos + 1, suffix.size()) == suffix) return 1 + suffix.size();
  }
  // ' ?\p{L}+' | ' ?\p{N}+' | ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
  // Without the space the run would have to start with the space itself, which is of class \s,
  // so the optional space is taken whenever it is there.
  const std::size_t start = pos + (text[pos] == ' ' && pos + 1 < text.size() ? 1 : 0);
  const CharClass first = class_of(decode_utf8(text, start).code);
  if (first != CharClass::kSpace) {
    const std::size_t run = run_of(text, start, first);
    if (run > 0) return start - pos + run;
  }
  // '\s+(?!\S)' | '\s+': a run of whitespace; when a non-space follows it, the first alternative
  // backs off one character (leaving it to prefix the next word as ' ?\p{L}+' etc.), unless the
  // run is a single character, which the second alternative then takes whole.
  std::size_t end = pos, last = pos;
  while (end < text.size()) {
    const Utf8Char c = decode_utf8(text, end);
    if (class_of(c.code) != CharClass::kSpace) break;
    last = end;
    end += c.bytes;
  }
  if (end == text.size() || last == pos) return end - pos;
  return last - pos;
}

// ---- files ------------------------------------------------------------------------------------

std::string read_whole(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  TRIDENT_CHECK(in.good(), "GPT-2 tokenizer: cannot read the ", what, " '", path, "'; pass GPT-2's ", what,
                " (--vocab vocab.json --merges merges.txt)");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint32_t crc32_of(const std::string& bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

}  // namespace

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = match_at(text, pos);
    pieces.push_back(text.substr(pos, n));
    pos += n;
  }
  return pieces;
}

const std::vector<std::string>& gpt2_byte_symbols() {
  // bytes_to_unicode: the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the
  // other 68 take code points 256, 257, … in byte order. Each as UTF-8.
  static const std::vector<std::string> symbols = [] {
    std::vector<std::string> out(256);
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {  // every stand-in is below U+0800: two bytes
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      out[static_cast<std::size_t>(b)] = s;
    }
    return out;
  }();
  return symbols;
}

Gpt2BpeTokenizer::Gpt2BpeTokenizer(const std::string& vocab_path, const std::string& merges_path)
    : vocab_path_(std::filesystem::absolute(vocab_path).lexically_normal().string()),
      merges_path_(std::filesystem::absolute(merges_path).lexically_normal().string()) {
  // vocab.json: {"symbol": id, …}
  const std::string vocab_text = read_whole(vocab_path, "vocabulary");
  vocab_crc_ = crc32_of(vocab_text);
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const std::exception& e) {
    TRIDENT_FAIL("GPT-2 tokenizer: ", vocab_path, " is not JSON (", e.what(), "); pass GPT-2's vocab.json");
  }
  TRIDENT_CHECK(vocab.is_object() && !vocab.empty(), "GPT-2 tokenizer: ", vocab_path,
                " is not a JSON object of symbol -> id; pass GPT-2's vocab.json");
  std::unordered_map<std::string, std::uint16_t> ids;
  for (const auto& [symbol, id] : vocab.items()) {
    TRIDENT_CHECK(id.is_number_integer() && id.get<std::int64_t>() >= 0 &&
                      id.get<std::int64_t>() <= std::numeric_limits<std::uint16_t>::max(),
                  "GPT-2 tokenizer: ", vocab_path, ": the id of '", symbol, "' is ", id.dump(),
                  "; ids must be integers 0..65535 (llm.c token files hold uint16)");
    const auto i = static_cast<std::size_t>(id.get<std::int64_t>());
    if (i >= symbols_.size()) symbols_.resize(i + 1);
    TRIDENT_CHECK(symbols_[i].empty(), "GPT-2 tokenizer: ", vocab_path, ": id ", i, " is given to both '",
                  symbols_[i], "' and '", symbol, "'");
    symbols_[i] = symbol;
    ids.emplace(symbol, static_cast<std::uint16_t>(i));
  }
  const auto eot = ids.find("<|endoftext|>");
  TRIDENT_CHECK(eot != ids.end(), "GPT-2 tokenizer: ", vocab_path,
                " has no \"<|endoftext|>\" symbol (GPT-2's end-of-text, id 50256)");
  eot_ = eot->second;
  for (int b = 0; b < 256; ++b) {
    const std::string& s = gpt2_byte_symbols()[static_cast<std::size_t>(b)];
    const auto it = ids.find(s);
    TRIDENT_CHECK(it != ids.end(), "GPT-2 tokenizer: ", vocab_path, " has no symbol for byte ", b, " ('", s,
                  "'): a byte-level vocabulary holds all 256");
    byte_ids_[b] = it->second;
    decode_byte_.emplace(decode_utf8(s, 0).code, static_cast<unsigned char>(b));
  }

  // merges.txt: "#version: 0.2", then one "left right" pair per line, highest priority first.
  const std::string merges_text = read_whole(merges_path, "merges");
  merges_crc_ = crc32_of(merges_text);
  std::istringstream lines(merges_text);
  std::string line;
  int line_no = 0, rank = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::size_t space = line.find(' ');
    const bool two = space != std::string::npos && space > 0 && line.find(' ', space + 1) == std::string::npos &&
                     space + 1 < line.size();
    TRIDENT_CHECK(two, "GPT-2 tokenizer: ", merges_path, " line ", line_no, " is '", line,
                  "', not two symbols separated by one space; pass GPT-2's merges.txt");
    const std::string left = line.substr(0, space), right = line.substr(space + 1);
    const auto a = ids.find(left), b = ids.find(right), m = ids.find(left + right);
    TRIDENT_CHECK(a != ids.end() && b != ids.end() && m != ids.end(), "GPT-2 tokenizer: ", merges_path, " line ",
                  line_no, " merges '", left, "' and '", right, "' but ", vocab_path, " lacks '",
                  (a == ids.end() ? left : b == ids.end() ? right : left + right),
                  "': the two files are not from the same tokenizer");
    merges_.emplace(pair_key(a->second, b->second), Merge{rank++, m->second});  // the first rank wins
  }
}

void Gpt2BpeTokenizer::bpe(std::string_view piece, std::vector<std::uint16_t>& out) const {
  if (auto hit = cache_.find(std::string(piece)); hit != cache_.end()) {
    out.insert(out.end(), hit->second.begin(), hit->second.end());
    return;
  }
  std::vector<std::uint16_t> sym;
  sym.reserve(piece.size());
  for (const char c : piece) sym.push_back(byte_ids_[static_cast<unsigned char>(c)]);
  // Repeatedly merge every occurrence (left to right) of the best-ranked adjacent pair.
  while (sym.size() > 1) {
    const Merge* best = nullptr;
    std::uint16_t left = 0, right = 0;
    for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
      const auto it = merges_.find(pair_key(sym[i], sym[i + 1]));
      if (it != merges_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        left = sym[i];
        right = sym[i + 1];
      }
    }
    if (!best) break;
    std::size_t w = 0;
    for (std::size_t i = 0; i < sym.size(); ++w) {
      if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
        sym[w] = best->merged;
        i += 2;
      } else {
        sym[w] = sym[i++];
      }
    }
    sym.resize(w);
  }
  out.insert(out.end(), sym.begin(), sym.end());
  cache_.emplace(std::string(piece), std::move(sym));
}

void Gpt2BpeTokenizer::encode_append(std::string_view text, std::vector<std::uint16_t>& out) const {
  for (std::string_view piece : gpt2_pretokenize(text)) bpe(piece, out);
}

std::string Gpt2BpeTokenizer::decode(std::span<const std::uint16_t> tokens) const {
  std::string text;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::uint16_t t = tokens[i];
    TRIDENT_CHECK(t < symbols_.size() && !symbols_[t].empty(), "GPT-2 tokenizer: token ", t, " at position ", i,
                  " is not in the vocabulary (", symbols_.size(), " ids): the tokens come from another tokenizer");
    const std::string& s = symbols_[t];
    for (std::size_t pos = 0; pos < s.size();) {
      const Utf8Char c = decode_utf8(s, pos);
      const auto byte = decode_byte_.find(c.code);
      if (byte != decode_byte_.end()) text.push_back(static_cast<char>(byte->second));
      else text.append(s, pos, c.bytes);  // not a byte stand-in: the symbol's own text
      pos += c.bytes;
    }
  }
  return text;
}

nlohmann::json Gpt2BpeTokenizer::record() const {
  return {{"kind", kind()},          {"vocab_size", vocab_size()}, {"eot", eot_},
          {"vocab", vocab_path_},    {"vocab_crc32", vocab_crc_},  {"merges", merges_path_},
          {"merges_crc32", merges_crc_}};
}

}  // namespace trident
