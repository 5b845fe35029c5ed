// GPT-2 byte-level BPE: the pre-tokenisation pattern piece by piece, a small vocabulary and merges
// file written here with ids worked out by hand, the errors of bad files, tokenizer records, token
// files made with BPE, and (when TRIDENT_GPT2_DIR names a folder with GPT-2's vocab.json and
// merges.txt) GPT-2's own ids for a few sentences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "experiments/data/bpe_tokenizer.h"
#include "experiments/data/corpus_split.h"
#include "experiments/data/token_file.h"
#include "experiments/data/unicode_classes.h"
#include "tests/temp_dir_test.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::uint16_t>;

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view p : gpt2_pretokenize(text)) out.emplace_back(p);
  return out;
}

TEST(Gpt2Pretokenize, WordsKeepTheirLeadingSpace) {
  EXPECT_EQ(pieces("Hello world"), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(pieces("Hi!!! ok?"), (std::vector<std::string>{"Hi", "!!!", " ok", "?"}));
  EXPECT_EQ(pieces("abc123 4.5"), (std::vector<std::string>{"abc", "123", " 4", ".", "5"}));
}

TEST(Gpt2Pretokenize, Contractions) {
  EXPECT_EQ(pieces("I'm he'll they've don't"),
            (std::vector<std::string>{"I", "'m", " he", "'ll", " they", "'ve", " don", "'t"}));
  // Case-sensitive: "'S" is not a contraction; the apostrophe is then punctuation of its own.
  EXPECT_EQ(pieces("'s'S"), (std::vector<std::string>{"'s", "'", "S"}));
}

TEST(Gpt2Pretokenize, WhitespaceRunsLeaveOneSpaceForTheNextWord) {
  // \s+(?!\S) backs off one character before a word; a lone whitespace character stays whole.
  EXPECT_EQ(pieces("a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(pieces("x\n\ny"), (std::vector<std::string>{"x", "\n", "\n", "y"}));
  EXPECT_EQ(pieces("end   "), (std::vector<std::string>{"end", "   "}));
  EXPECT_EQ(pieces(" \tz"), (std::vector<std::string>{" ", "\t", "z"}));
}

TEST(Gpt2Pretokenize, UnicodeClasses) {
  // é, ö (2 bytes), 日本語 (3 bytes each) are letters; Arabic-Indic ٣ (U+0663) a number; — punctuation.
  EXPECT_EQ(pieces("h\xC3\xA9llo w\xC3\xB6rld"), (std::vector<std::string>{"h\xC3\xA9llo", " w\xC3\xB6rld"}));
  EXPECT_EQ(pieces("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xD9\xA3\xE2\x80\x94"),
            (std::vector<std::string>{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", " \xD9\xA3", "\xE2\x80\x94"}));
  EXPECT_TRUE(is_unicode_letter(U'\u00E9'));
  EXPECT_TRUE(is_unicode_number(U'\u0663'));
  EXPECT_TRUE(is_unicode_space(U'\u3000'));
  EXPECT_FALSE(is_unicode_letter(U'\u2014') || is_unicode_number(U'\u2014') || is_unicode_space(U'\u2014'));
}

TEST(Gpt2Pretokenize, AnyBytesSplitAndRejoin) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "\xE6\x97";  // a truncated 3-byte character at the end
  std::string joined;
  for (const std::string& p : pieces(all)) joined += p;
  EXPECT_EQ(joined, all);
}

TEST(Gpt2ByteSymbols, PrintableBytesStandForThemselves) {
  const auto& s = gpt2_byte_symbols();
  EXPECT_EQ(s['A'], "A");
  EXPECT_EQ(s[' '], "\xC4\xA0");   // U+0120 'Ġ' (byte 32 is the 33rd non-printable byte: 256 + 32)
  EXPECT_EQ(s['\n'], "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(s[0xC3], "\xC3\x83");  // 'Ã' is printable: itself
}

// ---- a small vocabulary written by the test --------------------------------------------------

// Ids 0..255: the byte symbols, id = byte value. Merges (rank: left right -> id):
//   0: h e -> he 256    1: l l -> ll 257     2: he ll -> hell 258   3: Ġ w -> Ġw 259
//   4: o r -> or 260    5: Ġw or -> Ġwor 261  6: hell o -> hello 262
// and <|endoftext|> 263.
class SmallBpe : public testing_util::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[gpt2_byte_symbols()[static_cast<std::size_t>(b)]] = b;
    const std::string G = gpt2_byte_symbols()[' '];
    const std::vector<std::pair<std::string, std::string>> merges = {
        {"h", "e"}, {"l", "l"}, {"he", "ll"}, {G, "w"}, {"o", "r"}, {G + "w", "or"}, {"hell", "o"}};
    std::ofstream m(file("merges.txt"));
    m << "#version: 0.2\n";
    int id = 256;
    for (const auto& [a, b] : merges) {
      m << a << " " << b << "\n";
      vocab[a + b] = id++;
    }
    vocab["<|endoftext|>"] = id;
    std::ofstream(file("vocab.json")) << vocab.dump();
  }
  Gpt2BpeTokenizer tokenizer() const { return Gpt2BpeTokenizer(file("vocab.json"), file("merges.txt")); }
};

TEST_F(SmallBpe, HandComputedIds) {
  const Gpt2BpeTokenizer t = tokenizer();
  EXPECT_EQ(t.vocab_size(), 264);
  EXPECT_EQ(t.eot(), 263);
  // "hello": he(r0) -> ll(r1) -> hell(r2) -> hello(r6).  " world": Ġw(r3) -> or(r4) -> Ġwor(r5), l, d.
  EXPECT_EQ(t.encode("hello world"), (Ids{262, 261, 'l', 'd'}));
  // Every occurrence of the best pair merges, left to right: "llll" -> ll ll; "lll" -> ll l.
  EXPECT_EQ(t.encode("llll"), (Ids{257, 257}));
  EXPECT_EQ(t.encode("lll"), (Ids{257, 'l'}));
  // Merges never cross pieces: "he llo" is "he" + " llo" (Ġ l l o -> Ġ ll o).
  EXPECT_EQ(t.encode("he llo"), (Ids{256, ' ', 257, 'o'}));
  // Bytes of a non-ASCII character are separate symbols when no merge joins them.
  EXPECT_EQ(t.encode("\xC3\xA9"), (Ids{0xC3, 0xA9}));
  // The end-of-text string in a text is ordinary text, never the special id.
  const Ids eot_text = t.encode("<|endoftext|>");
  EXPECT_EQ(std::count(eot_text.begin(), eot_text.end(), t.eot()), 0);
}

TEST_F(SmallBpe, DecodeIsTheInverse) {
  const Gpt2BpeTokenizer t = tokenizer();
  const std::string text = "hello world\n\n  h\xC3\xA9llo\twor ld 123 'll";
  EXPECT_EQ(t.decode(t.encode(text)), text);
  EXPECT_EQ(t.decode(Ids{262, 263}), "hello<|endoftext|>");
  EXPECT_THROW(t.decode(Ids{264}), Error);
}

TEST_F(SmallBpe, RecordLoadsTheSameTokenizerAndCatchesChangedFiles) {
  const nlohmann::json record = tokenizer().record();
  EXPECT_EQ(record["kind"], "gpt2-bpe");
  EXPECT_TRUE(fs::path(record["vocab"].get<std::string>()).is_absolute());
  const auto loaded = load_tokenizer(record, "test record");
  EXPECT_EQ(loaded->encode("hello world"), (Ids{262, 261, 'l', 'd'}));
  std::ofstream(file("merges.txt"), std::ios::app) << "o r\n";  // a valid file, but not the same one
  try {
    load_tokenizer(record, "test record");
    FAIL() << "a changed merges.txt must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges.txt has changed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(load_tokenizer(byte_tokenizer().record(), "byte")->encode("ab"), (Ids{'a', 'b'}));
}

TEST_F(SmallBpe, TokenFilesWithBpeCarryTheirRecord) {
  const Gpt2BpeTokenizer t = tokenizer();
  const std::vector<std::string> docs = {"hello world", "hell", "hello", "world"};
  write_corpus_split(docs, 2, file("c_train.bin"), file("c_val.bin"), t);
  const TokenFile train(file("c_train.bin"));
  EXPECT_EQ(Ids(train.tokens().begin(), train.tokens().end()), (Ids{263, 262, 261, 'l', 'd', 263, 262}));
  const auto record = read_tokenizer_record(tokenizer_record_path(file("c_val.bin")));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(tokenizer_record_path(file("c_val.bin")), file("c_val.tokenizer.json"));
  EXPECT_EQ((*record)["eot"], 263);
  EXPECT_FALSE(read_tokenizer_record(file("absent.tokenizer.json")).has_value());
}

// Each bad file is refused with a message naming the file and what is wrong.
TEST_F(SmallBpe, BadFilesAreNamed) {
  auto expect_error = [&](const std::vector<std::string>& parts) {
    try {
      tokenizer();
      FAIL() << "expected an error";
    } catch (const Error& e) {
      for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  std::ofstream(file("merges.txt"), std::ios::app) << "q z\n";  // "qz" is not in the vocabulary
  expect_error({"merges.txt line 9", "lacks 'qz'"});
  std::ofstream(file("merges.txt"), std::ios::trunc) << "#version: 0.2\nh e extra\n";
  expect_error({"merges.txt line 2", "not two symbols"});
  std::ofstream(file("vocab.json"), std::ios::trunc) << R"({"a": 0, "<|endoftext|>": 1})";
  expect_error({"vocab.json", "no symbol for byte 0"});
  std::ofstream(file("vocab.json"), std::ios::trunc) << R"({"a": 0})";
  expect_error({"vocab.json", "<|endoftext|>"});
  std::ofstream(file("vocab.json"), std::ios::trunc) << R"({"a": 70000})";
  expect_error({"vocab.json", "0..65535"});
  std::ofstream(file("vocab.json"), std::ios::trunc) << "[1, 2";
  expect_error({"vocab.json", "is not JSON"});
  fs::remove(file("vocab.json"));
  expect_error({"cannot read the vocabulary", "vocab.json"});
}

// ---- GPT-2's own files, when the machine has them ---------------------------------------------

TEST(Gpt2BpeReal, KnownIds) {
  const char* dir = std::getenv("TRIDENT_GPT2_DIR");
  const fs::path d = dir ? dir : "";
  if (!dir || !fs::exists(d / "vocab.json") || !fs::exists(d / "merges.txt"))
    GTEST_SKIP() << "set TRIDENT_GPT2_DIR to a folder with GPT-2's vocab.json and merges.txt to check real ids";
  const Gpt2BpeTokenizer t((d / "vocab.json").string(), (d / "merges.txt").string());
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.eot(), 50256);
  EXPECT_EQ(t.encode("Hello world"), (Ids{15496, 995}));
  EXPECT_EQ(t.encode("hello world"), (Ids{31373, 995}));
  EXPECT_EQ(t.encode("Hello, world!"), (Ids{15496, 11, 995, 0}));
  const std::string text = "GPT-2's tokenizer handles caf\xC3\xA9s, 2024 and   spaces.\n";
  EXPECT_EQ(t.decode(t.encode(text)), text);
}

}  // namespace
}  // namespace trident
