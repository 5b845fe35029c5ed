// Training data: llm.c token files (exact bytes, every kind of corrupt file), the byte tokenizer,
// documents and the train/val split, the default corpus, and the loader's promises (deterministic,
// every window once per epoch, DP replicas disjoint, resumable from the step number).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "experiments/data/byte_tokenizer.h"
#include "experiments/data/corpus_split.h"
#include "experiments/data/default_corpus.h"
#include "experiments/data/documents.h"
#include "experiments/data/token_file.h"
#include "experiments/data/token_loader.h"
#include "tests/temp_dir_test.h"

namespace trident {
namespace {

namespace fs = std::filesystem;

// Each test gets a fresh directory of its own (tests/temp_dir_test.h).
using Data = testing_util::TempDirTest;

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void put_i32(std::vector<unsigned char>& bytes, std::size_t offset, std::int32_t v) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<unsigned char>(static_cast<std::uint32_t>(v) >> (8 * i));
}

// A raw token file: header ints (the rest zero) and `tokens` tokens 0, 1, 2, ...
std::vector<unsigned char> raw_token_file(std::int32_t magic, std::int32_t version, std::int32_t count, int tokens) {
  std::vector<unsigned char> bytes(1024 + 2 * static_cast<std::size_t>(tokens), 0);
  put_i32(bytes, 0, magic);
  put_i32(bytes, 4, version);
  put_i32(bytes, 8, count);
  for (int i = 0; i < tokens; ++i) bytes[1024 + 2 * i] = static_cast<unsigned char>(i);
  return bytes;
}

// Opening `path` throws trident::Error whose message holds every one of `parts`.
void expect_open_error(const std::string& path, std::initializer_list<std::string> parts) {
  try {
    TokenFile f(path);
    ADD_FAILURE() << "opening " << path << " did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

std::vector<std::uint16_t> iota_tokens(int n) {
  std::vector<std::uint16_t> t(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = static_cast<std::uint16_t>(i);
  return t;
}

// ---- token file ---------------------------------------------------------------------------------

TEST_F(Data, TokenFileBytesMatchLlmcLayout) {
  const std::vector<std::uint16_t> tokens = {0, 1, 255, 256, 0x1234, 65535, 7};
  write_token_file(file("t.bin"), tokens);
  EXPECT_EQ(listing(), std::vector<std::string>{"t.bin"});  // no temp file left behind

  const std::vector<unsigned char> b = read_bytes(file("t.bin"));
  ASSERT_EQ(b.size(), 1024u + 2 * tokens.size());
  // header[0] = 20240520 = 0x0134D888, header[1] = 1, header[2] = 7, little-endian int32; the rest 0.
  const std::vector<unsigned char> head = {0x88, 0xD8, 0x34, 0x01, 1, 0, 0, 0, 7, 0, 0, 0};
  EXPECT_EQ(std::vector<unsigned char>(b.begin(), b.begin() + 12), head);
  EXPECT_TRUE(std::all_of(b.begin() + 12, b.begin() + 1024, [](unsigned char c) { return c == 0; }));
  // Tokens as little-endian uint16.
  const std::vector<unsigned char> body = {0, 0, 1, 0, 255, 0, 0, 1, 0x34, 0x12, 0xFF, 0xFF, 7, 0};
  EXPECT_EQ(std::vector<unsigned char>(b.begin() + 1024, b.end()), body);

  const TokenFile f(file("t.bin"));
  EXPECT_EQ(f.path(), file("t.bin"));
  EXPECT_EQ(f.size(), 7);
  EXPECT_EQ(std::vector<std::uint16_t>(f.tokens().begin(), f.tokens().end()), tokens);
  EXPECT_EQ(f[4], 0x1234);
  EXPECT_EQ(f.max_token(), 65535);
}

TEST_F(Data, TokenFileEmptyIsValid) {
  write_token_file(file("e.bin"), {});
  EXPECT_EQ(read_bytes(file("e.bin")).size(), 1024u);
  const TokenFile f(file("e.bin"));
  EXPECT_EQ(f.size(), 0);
  EXPECT_EQ(f.max_token(), 0);
}

TEST_F(Data, TokenFileOverwriteReplacesWhole) {
  write_token_file(file("t.bin"), iota_tokens(100));
  write_token_file(file("t.bin"), iota_tokens(3));
  EXPECT_EQ(TokenFile(file("t.bin")).size(), 3);
  EXPECT_EQ(listing(), std::vector<std::string>{"t.bin"});
}

TEST_F(Data, TokenFileWriteIntoMissingDirectoryFails) {
  EXPECT_THROW(write_token_file(file("no/such/dir/t.bin"), {1, 2}), Error);
}

TEST_F(Data, TokenFileMissing) { expect_open_error(file("absent.bin"), {file("absent.bin"), "cannot open"}); }

TEST_F(Data, TokenFileShorterThanHeader) {
  write_bytes(file("short.bin"), std::vector<unsigned char>(100, 0));
  expect_open_error(file("short.bin"),
                    {file("short.bin"), "too short", "100 bytes", "1024-byte header", "trident data"});
}

TEST_F(Data, TokenFileBadMagic) {
  write_bytes(file("m.bin"), raw_token_file(12345, 1, 4, 4));
  expect_open_error(file("m.bin"), {file("m.bin"), "bad magic", "12345", "expected 20240520", "trident data"});
}

TEST_F(Data, TokenFileLlama3MagicNamed) {
  write_bytes(file("l.bin"), raw_token_file(20240801, 7, 4, 8));
  expect_open_error(file("l.bin"), {file("l.bin"), "LLaMA-3", "20240520"});
}

TEST_F(Data, TokenFileWrongVersion) {
  write_bytes(file("v.bin"), raw_token_file(20240520, 2, 4, 4));
  expect_open_error(file("v.bin"),
                    {file("v.bin"), "unsupported version", "header[1] is 2", "expected 1", "trident data"});
}

TEST_F(Data, TokenFileTruncated) {
  write_bytes(file("tr.bin"), raw_token_file(20240520, 1, 100, 50));
  expect_open_error(file("tr.bin"),
                    {file("tr.bin"), "truncated", "100 tokens", "1224 bytes", "it is 1124 bytes", "trident data"});
}

TEST_F(Data, TokenFileOversized) {
  write_bytes(file("o.bin"), raw_token_file(20240520, 1, 10, 20));
  expect_open_error(file("o.bin"), {file("o.bin"), "oversized", "10 tokens", "1044 bytes", "it is 1064 bytes"});
}

TEST_F(Data, TokenFileOddByteCountIsAMismatch) {
  std::vector<unsigned char> b = raw_token_file(20240520, 1, 4, 4);
  b.push_back(0);
  write_bytes(file("odd.bin"), b);
  expect_open_error(file("odd.bin"), {file("odd.bin"), "oversized"});
}

TEST_F(Data, TokenFileNegativeCount) {
  write_bytes(file("n.bin"), raw_token_file(20240520, 1, -3, 0));
  expect_open_error(file("n.bin"), {file("n.bin"), "-3"});
}

// ---- byte tokenizer ----------------------------------------------------------------------------

TEST(ByteTokenizer, Utf8RoundTrip) {
  // "héllo wörld — 日本 🎉": 2-, 3- and 4-byte characters.
  const std::string text = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\n";
  const std::vector<std::uint16_t> t = ByteTokenizer::encode(text);
  ASSERT_EQ(t.size(), text.size());  // one token per byte: multi-byte characters are several tokens
  EXPECT_EQ(t[1], 0xC3);
  EXPECT_EQ(t[2], 0xA9);
  EXPECT_TRUE(std::all_of(t.begin(), t.end(), [](std::uint16_t x) { return x < 256; }));
  EXPECT_EQ(ByteTokenizer::decode(t), text);
}

TEST(ByteTokenizer, EveryByteRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::vector<std::uint16_t> t = ByteTokenizer::encode(all);
  EXPECT_EQ(t, iota_tokens(256));
  EXPECT_EQ(ByteTokenizer::decode(t), all);
}

TEST(ByteTokenizer, EndOfText) {
  EXPECT_EQ(ByteTokenizer::kVocabSize, 257);
  const std::vector<std::uint16_t> t = {'a', ByteTokenizer::kEot, 'b', ByteTokenizer::kEot};
  EXPECT_EQ(ByteTokenizer::decode(t), "a\n<|endoftext|>\nb\n<|endoftext|>\n");
  const std::vector<std::uint16_t> bad = {'a', 300};
  EXPECT_THROW(ByteTokenizer::decode(bad), Error);
}

// ---- documents and the split -------------------------------------------------------------------

TEST(Documents, SplitOnSeparatorLines) {
  EXPECT_EQ(split_documents("a\nb\n%\nc\n%\n", "%"), (std::vector<std::string>{"a\nb", "c"}));
  // No trailing separator, CRLF separators, whitespace-only entries dropped, '%' inside a line kept.
  EXPECT_EQ(split_documents("x 50%\n%\r\n  \n%\n%\nlast", "%"), (std::vector<std::string>{"x 50%", "last"}));
  EXPECT_EQ(split_documents("%\none\n", "%"), std::vector<std::string>{"one"});
  EXPECT_EQ(split_documents("whole\ntext\n", "%"), std::vector<std::string>{"whole\ntext"});
  EXPECT_TRUE(split_documents("", "%").empty());
}

// Documents of a token stream in which each document is preceded by EOT (as write_corpus_split writes).
std::vector<std::string> documents_of(const TokenFile& f) {
  std::vector<std::string> docs;
  const std::span<const std::uint16_t> t = f.tokens();
  EXPECT_TRUE(t.empty() || t[0] == ByteTokenizer::kEot) << f.path() << " does not start with EOT";
  for (std::size_t i = 0; i < t.size();) {
    std::size_t j = i + 1;
    while (j < t.size() && t[j] != ByteTokenizer::kEot) ++j;
    docs.push_back(ByteTokenizer::decode(t.subspan(i + 1, j - i - 1)));
    i = j;
  }
  return docs;
}

TEST_F(Data, CorpusSplitEveryNthToValidation) {
  std::vector<std::string> docs;
  for (int i = 0; i < 25; ++i) docs.push_back("doc " + std::to_string(i) + " \xC3\xA9");
  const CorpusSplit s = write_corpus_split(docs, 10, file("tr.bin"), file("va.bin"));
  EXPECT_EQ(s.train_documents, 23);
  EXPECT_EQ(s.val_documents, 2);
  const TokenFile train(file("tr.bin")), val(file("va.bin"));
  EXPECT_EQ(s.train_tokens, train.size());
  EXPECT_EQ(s.val_tokens, val.size());
  EXPECT_EQ(documents_of(val), (std::vector<std::string>{docs[9], docs[19]}));
  std::vector<std::string> expect_train;
  for (int i = 0; i < 25; ++i)
    if (i != 9 && i != 19) expect_train.push_back(docs[static_cast<std::size_t>(i)]);
  EXPECT_EQ(documents_of(train), expect_train);
}

TEST_F(Data, CorpusSplitRefusesEmptyValidation) {
  try {
    write_corpus_split({"one", "two"}, 10, file("tr.bin"), file("va.bin"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("validation split is empty"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_corpus_split({"a", "b", "c"}, 1, file("tr.bin"), file("va.bin")), Error);
  EXPECT_TRUE(listing().empty());
}

// ---- default corpus ----------------------------------------------------------------------------

TEST_F(Data, DefaultCorpusFromFortuneDirectory) {
  // A fortune directory as the packages lay it out: text files, .dat indexes, .u8 links, subdirectories.
  const fs::path fortunes = dir_ / "fortunes";
  fs::create_directories(fortunes / "off");
  std::string a, b;
  for (int i = 0; i < 8; ++i) a += "a" + std::to_string(i) + " line\n%\n";
  for (int i = 0; i < 7; ++i) b += "b" + std::to_string(i) + "\nsecond line\n%\n";
  write_bytes((fortunes / "bb").string(), std::vector<unsigned char>(b.begin(), b.end()));
  write_bytes((fortunes / "aa").string(), std::vector<unsigned char>(a.begin(), a.end()));
  write_bytes((fortunes / "aa.dat").string(), {0, 1, 2, 3, 0xFF});
  fs::create_symlink("aa", fortunes / "aa.u8");
  write_bytes((fortunes / "off" / "cc").string(), {'x', '\n'});
  EXPECT_EQ(fortune_files(fortunes.string()),
            (std::vector<std::string>{(fortunes / "aa").string(), (fortunes / "bb").string()}));
  const std::vector<std::string> entries = fortune_entries(fortunes.string());
  ASSERT_EQ(entries.size(), 15u);
  EXPECT_EQ(entries[0], "a0 line");
  EXPECT_EQ(entries[8], "b0\nsecond line");

  const std::string out = file("corpus");  // created by ensure_default_corpus
  const DefaultCorpus c = ensure_default_corpus(out, fortunes.string());
  EXPECT_TRUE(c.created);
  EXPECT_EQ(c.train_path, out + "/fortunes_train.bin");
  EXPECT_EQ(c.val_path, out + "/fortunes_val.bin");
  EXPECT_EQ(documents_of(TokenFile(c.val_path)), std::vector<std::string>{entries[9]});
  EXPECT_EQ(documents_of(TokenFile(c.train_path)).size(), 14u);

  const DefaultCorpus again = ensure_default_corpus(out, fortunes.string());  // valid files are reused
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.train_tokens, c.train_tokens);
  EXPECT_EQ(again.val_tokens, c.val_tokens);

  write_bytes(c.val_path, {1, 2, 3});  // a broken file is rebuilt
  const DefaultCorpus rebuilt = ensure_default_corpus(out, fortunes.string());
  EXPECT_TRUE(rebuilt.created);
  EXPECT_EQ(TokenFile(c.val_path).size(), c.val_tokens);
}

TEST_F(Data, DefaultCorpusWithoutFortunesSaysWhatToInstall) {
  try {
    ensure_default_corpus(file("corpus"), file("no_fortunes_here"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("apt-get install fortunes"), std::string::npos) << what;
    EXPECT_NE(what.find("data.train"), std::string::npos) << what;
    EXPECT_NE(what.find("data.val"), std::string::npos) << what;
  }
}

TEST_F(Data, DefaultCorpusFromInstalledFortunes) {
  if (fortune_files().empty())
    GTEST_SKIP() << "no fortune files in " << kFortunesDir << " (apt-get install fortunes)";
  const DefaultCorpus c = ensure_default_corpus(file("corpus"));
  EXPECT_TRUE(c.created);
  const TokenFile train(c.train_path), val(c.val_path);
  EXPECT_GT(train.size(), 0);
  EXPECT_GT(val.size(), 0);
  EXPECT_LE(std::max(train.max_token(), val.max_token()), ByteTokenizer::kEot);
  std::cout << "default corpus: " << fortune_files().size() << " files, train " << train.size() << " tokens, val "
            << val.size() << " tokens\n";

  // Disjoint by entry: val holds exactly entries 9, 19, 29, ... and train all the others, in order.
  const std::vector<std::string> entries = fortune_entries();
  std::vector<std::string> expect_train, expect_val;
  for (std::size_t i = 0; i < entries.size(); ++i)
    (is_validation_document(static_cast<std::int64_t>(i), 10) ? expect_val : expect_train).push_back(entries[i]);
  EXPECT_EQ(documents_of(val), expect_val);
  EXPECT_EQ(documents_of(train), expect_train);
}

// ---- loader ------------------------------------------------------------------------------------

// A token file whose token i is i (< 65536), so a sample's first id tells its window.
class Loader : public Data {
 protected:
  TokenFile make(int n) {
    write_token_file(file("tok.bin"), iota_tokens(n));
    return TokenFile(file("tok.bin"));
  }
};

std::vector<std::int32_t> values(const Tensor& t) {
  return {t.data<std::int32_t>(), t.data<std::int32_t>() + t.numel()};
}

// The windows of samples [first, first + count) as batch() delivers them (first id / seq_len).
std::vector<std::int64_t> batch_windows(TokenLoader& loader, std::int64_t first, std::int64_t count) {
  Tensor ids, targets;
  loader.batch(first, count, ids, targets);
  std::vector<std::int64_t> w;
  const int n = loader.seq_len();
  for (std::int64_t i = 0; i < count; ++i) w.push_back(ids.data<std::int32_t>()[i * n] / n);
  return w;
}

TEST_F(Loader, WindowCount) {
  EXPECT_EQ(TokenLoader(make(101), 10, 1).windows(), 10);  // (101 - 1) / 10: the last window needs token 100
  EXPECT_EQ(TokenLoader(make(100), 10, 1).windows(), 9);
  EXPECT_EQ(TokenLoader(make(11), 10, 1).windows(), 1);
}

TEST_F(Loader, FileShorterThanOneSample) {
  const TokenFile f = make(8);
  try {
    TokenLoader loader(f, 8, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(f.path()), std::string::npos) << what;
    EXPECT_NE(what.find("file has 8 tokens, fewer than seq_len+1 = 9"), std::string::npos) << what;
  }
  EXPECT_THROW(TokenLoader(f, 0, 1), Error);
}

TEST_F(Loader, IdsAndTargetsShiftedByOne) {
  TokenLoader loader(make(1000), 16, 7);
  Tensor ids, targets;
  loader.batch(3, 5, ids, targets);
  ASSERT_EQ(ids.shape(), (Shape{5, 16}));
  ASSERT_EQ(targets.shape(), (Shape{5, 16}));
  ASSERT_EQ(ids.dtype(), DType::kI32);
  for (std::int64_t i = 0; i < 5; ++i) {
    const std::int64_t start = loader.window(3 + i) * 16;  // window w reads tokens [16w, 16w + 16]
    for (int t = 0; t < 16; ++t) {
      EXPECT_EQ(ids.data<std::int32_t>()[i * 16 + t], start + t);
      EXPECT_EQ(targets.data<std::int32_t>()[i * 16 + t], start + t + 1);
    }
  }
  EXPECT_EQ(loader.max_token(), 999);
}

TEST_F(Loader, FillsCallersTensorsAndChecksThem) {
  TokenLoader loader(make(200), 8, 1);
  Tensor ids = Tensor::zeros({4, 8}, DType::kI32), targets = Tensor::zeros({4, 8}, DType::kI32);
  const void* before = ids.raw();
  loader.batch(0, 4, ids, targets);
  EXPECT_EQ(ids.raw(), before);  // filled in place
  Tensor fresh_ids, fresh_targets;
  loader.batch(0, 4, fresh_ids, fresh_targets);
  EXPECT_EQ(values(ids), values(fresh_ids));
  Tensor wrong = Tensor::zeros({4, 7}, DType::kI32), f32 = Tensor::zeros({4, 8}, DType::kF32);
  EXPECT_THROW(loader.batch(0, 4, wrong, targets), Error);
  EXPECT_THROW(loader.batch(0, 4, ids, f32), Error);
}

TEST_F(Loader, SameSeedSameBatchesOtherSeedDiffers) {
  const TokenFile f = make(5000);
  TokenLoader a(f, 32, 1234), b(f, 32, 1234), c(f, 32, 99);
  EXPECT_EQ(batch_windows(a, 0, 300), batch_windows(b, 0, 300));  // 300 > W = 156: spans epochs
  EXPECT_NE(batch_windows(a, 0, 156), batch_windows(c, 0, 156));
  EXPECT_NE(batch_windows(a, 0, 156), batch_windows(a, 156, 156));  // epochs differ in order
}

TEST_F(Loader, EveryWindowOncePerEpoch) {
  TokenLoader loader(make(3001), 20, 5);
  const std::int64_t W = loader.windows();
  ASSERT_EQ(W, 150);
  std::vector<std::int64_t> sorted(static_cast<std::size_t>(W));
  for (std::int64_t i = 0; i < W; ++i) sorted[static_cast<std::size_t>(i)] = i;
  for (std::int64_t e = 0; e < 4; ++e) {
    std::vector<std::int64_t> w = batch_windows(loader, e * W, W);
    std::sort(w.begin(), w.end());
    EXPECT_EQ(w, sorted) << "epoch " << e;
  }
  for (std::uint64_t seed : {0ull, 1ull, 42ull}) {
    std::vector<std::int64_t> p = epoch_permutation(1000, seed, 3);
    std::sort(p.begin(), p.end());
    EXPECT_EQ(p.front(), 0);
    EXPECT_EQ(std::adjacent_find(p.begin(), p.end()), p.end());
    EXPECT_EQ(p.back(), 999);
  }
  EXPECT_EQ(epoch_permutation(1, 7, 0), std::vector<std::int64_t>{0});
}

// DP replica d of step s reads global samples s·G + d·L ... + L - 1 (G = dp·L), as the trainer does.
TEST_F(Loader, DataParallelReplicasNeverShareAWindowInAnEpoch) {
  const TokenFile f = make(2001);
  for (const int dp : {2, 3, 4}) {
    const int L = 5;  // micro_batches · micro_batch_size
    const std::int64_t G = dp * L;
    std::vector<TokenLoader> replicas;
    for (int d = 0; d < dp; ++d) replicas.emplace_back(f, 16, 77);
    const std::int64_t W = replicas[0].windows();  // 125: G does not divide it, steps straddle epochs
    std::set<std::pair<std::int64_t, std::int64_t>> seen;  // (epoch, window) over all replicas
    std::vector<std::int64_t> per_epoch(3, 0);
    for (std::int64_t s = 0; s * G + G <= 3 * W; ++s)
      for (int d = 0; d < dp; ++d) {
        const std::int64_t first = s * G + d * L;
        const std::vector<std::int64_t> w = batch_windows(replicas[static_cast<std::size_t>(d)], first, L);
        for (int i = 0; i < L; ++i) {
          const std::int64_t epoch = (first + i) / W;
          EXPECT_TRUE(seen.insert({epoch, w[static_cast<std::size_t>(i)]}).second)
              << "dp " << dp << ": window " << w[static_cast<std::size_t>(i)] << " twice in epoch " << epoch;
          ++per_epoch[static_cast<std::size_t>(epoch)];
        }
      }
    EXPECT_EQ(per_epoch[0], W) << "dp " << dp;  // and every window of the epoch was visited
    // Rank-count independence: the replicas' samples are the serial run's samples, sliced.
    TokenLoader serial(f, 16, 77);
    EXPECT_EQ(batch_windows(serial, 2 * G + L, L), batch_windows(replicas[1], 2 * G + L, L));
  }
}

TEST_F(Loader, ResumesFromTheStepNumber) {
  const TokenFile f = make(3000);
  const int L = 4, dp = 2;
  const std::int64_t G = dp * L;
  // Uninterrupted: replica 1 runs steps 0..39 (several epochs: W = 187).
  TokenLoader running(f, 16, 2024);
  std::vector<std::vector<std::int32_t>> ids_at, targets_at;
  for (std::int64_t s = 0; s < 40; ++s) {
    Tensor ids, targets;
    running.batch(s * G + 1 * L, L, ids, targets);
    ids_at.push_back(values(ids));
    targets_at.push_back(values(targets));
  }
  // Resumed at step 23 (and at 39, then back at 5): a fresh loader from the step number alone.
  for (const std::int64_t s : {23, 39, 5}) {
    TokenLoader resumed(f, 16, 2024);
    Tensor ids, targets;
    resumed.batch(s * G + 1 * L, L, ids, targets);
    EXPECT_EQ(values(ids), ids_at[static_cast<std::size_t>(s)]) << "step " << s;
    EXPECT_EQ(values(targets), targets_at[static_cast<std::size_t>(s)]) << "step " << s;
  }
  // One loader jumping around (its epoch cache) agrees too.
  TokenLoader jumping(f, 16, 2024);
  for (const std::int64_t s : {30, 2, 39, 0, 23}) {
    Tensor ids, targets;
    jumping.batch(s * G + 1 * L, L, ids, targets);
    EXPECT_EQ(values(ids), ids_at[static_cast<std::size_t>(s)]) << "step " << s;
  }
}

}  // namespace
}  // namespace trident
