// `trident data`: make llm.c token files with the byte tokenizer (vocab 257) or GPT-2's BPE (given
// its vocab.json and merges.txt), either from UTF-8 text files or the default corpus (Debian's
// fortune files, byte-level). Each token file gets its tokenizer record beside it
// (PREFIX_train.tokenizer.json). Runs on rank 0 only; other ranks exit at once.
//   trident data --input a.txt --input b.txt --out-prefix data/mine          (each file one document)
//   trident data --input /usr/share/games/fortunes/linux --split-on % --out-prefix data/linux
//   trident data --input book.txt --vocab gpt2/vocab.json --merges gpt2/merges.txt --out-prefix data/book
//   trident data --default --out-dir data
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/tokenizer_option.h"
#include "experiments/data/corpus_split.h"
#include "experiments/data/default_corpus.h"
#include "experiments/data/documents.h"
#include "parallel/communicator.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

namespace {

struct DataJob {
  bool use_default = false;
  std::string out_dir;               // --default
  std::vector<std::string> inputs;   // otherwise
  std::string out_prefix;
  std::string split_on;              // empty: each input file is one document
  int val_every = kDefaultValEvery;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: the byte tokenizer
};

// "  train PATH  N tokens[, D documents]", paths padded to `width` so the two lines align.
std::string split_line(const char* what, const std::string& path, int width, std::int64_t tokens, std::int64_t docs) {
  char line[1024];
  std::snprintf(line, sizeof line, "  %-5s %-*s  %lld tokens", what, width, path.c_str(),
                static_cast<long long>(tokens));
  std::string s = line;
  if (docs >= 0) s += ", " + std::to_string(docs) + " documents";
  return s + "\n";
}

int width_of(const std::string& a, const std::string& b) { return static_cast<int>(std::max(a.size(), b.size())); }

std::string vocab_note(const Tokenizer& t) {
  if (t.kind() == "byte") return "  byte tokenizer: vocab 257 (bytes 0..255, EOT 256); train with model.vocab >= 257\n";
  const int v = t.vocab_size(), padded = (v + 63) / 64 * 64;
  return "  GPT-2 BPE tokenizer: vocab " + std::to_string(v) + " (EOT " + std::to_string(t.eot()) +
         "); train with model.vocab >= " + std::to_string(v) + " (" + std::to_string(padded) +
         " is the next multiple of 64)\n";
}

int run_default(const DataJob& job) {
  const DefaultCorpus c = ensure_default_corpus(job.out_dir);
  std::string out = std::string("trident data: default corpus (fortune files in ") + kFortunesDir + ", " +
                    (c.created ? "built" : "reused: both files were already valid") + ")\n";
  const int w = width_of(c.train_path, c.val_path);
  out += split_line("train", c.train_path, w, c.train_tokens, -1) + split_line("val", c.val_path, w, c.val_tokens, -1) +
         vocab_note(byte_tokenizer());
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int run_files(const DataJob& job) {
  std::vector<std::string> docs;
  for (const std::string& input : job.inputs) {
    std::string text = read_text_file(input);
    if (job.split_on.empty()) {
      docs.push_back(std::move(text));
    } else {
      std::vector<std::string> part = split_documents(text, job.split_on);
      docs.insert(docs.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    }
  }
  const std::string train_path = job.out_prefix + "_train.bin", val_path = job.out_prefix + "_val.bin";
  const fs::path parent = fs::path(train_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  TRIDENT_CHECK(!ec, "trident data: cannot create the output directory ", parent.string(), ": ", ec.message());
  const Tokenizer& tokenizer = job.tokenizer ? *job.tokenizer : byte_tokenizer();
  const CorpusSplit split = write_corpus_split(docs, job.val_every, train_path, val_path, tokenizer);
  const std::string how = job.split_on.empty() ? " (one per file)" : " (split on lines \"" + job.split_on + "\")";
  std::string out = "trident data: " + std::to_string(job.inputs.size()) + " input file(s), " +
                    std::to_string(docs.size()) + " documents" + how + ", 1 in " + std::to_string(job.val_every) +
                    " to validation\n";
  const int w = width_of(train_path, val_path);
  out += split_line("train", train_path, w, split.train_tokens, split.train_documents) +
         split_line("val", val_path, w, split.val_tokens, split.val_documents) + vocab_note(tokenizer);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace

Command make_data_command() {
  Command c;
  c.name = "data";
  c.summary = "tokenize text files (byte-level or GPT-2 BPE) into llm.c token files, or make the default corpus";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("input", po::value<std::vector<std::string>>()->composing(), "UTF-8 text file (repeat for several)")
      ("out-prefix", po::value<std::string>(), "write PREFIX_train.bin and PREFIX_val.bin")
      ("val-every", po::value<int>()->default_value(kDefaultValEvery), "every Nth document goes to validation (N >= 2)")
      ("split-on", po::value<std::string>(),
       "split each file into documents at lines equal to this (e.g. % for fortune files); default: one per file")
      ("default", po::bool_switch(), "make the default corpus (fortune files) instead of reading --input")
      ("out-dir", po::value<std::string>(), "with --default: directory for fortunes_train.bin and fortunes_val.bin");
    declare_tokenizer_options(d, "the byte tokenizer");
  };
  c.prepare = [](const po::variables_map& vm, int /*world_size*/) -> Command::Job {
    DataJob job;
    job.use_default = vm["default"].as<bool>();
    job.val_every = vm["val-every"].as<int>();
    if (job.use_default) {
      TRIDENT_CHECK(vm.count("out-dir"), "--default needs --out-dir DIR (where the corpus files go)");
      const bool file_flags = vm.count("input") || vm.count("out-prefix") || vm.count("split-on") ||
                              vm.count("vocab") || vm.count("merges") || vm.count("tokenizer");
      TRIDENT_CHECK(!file_flags && vm["val-every"].defaulted(),
                    "--default makes the fixed (byte-level) default corpus; drop --input, --out-prefix, --split-on, "
                    "--val-every and the tokenizer flags");
      job.out_dir = vm["out-dir"].as<std::string>();
    } else {
      TRIDENT_CHECK(vm.count("input") && vm.count("out-prefix"),
                    "pass --input FILE (one or more) and --out-prefix PREFIX, or --default --out-dir DIR");
      TRIDENT_CHECK(!vm.count("out-dir"), "--out-dir goes with --default; with --input use --out-prefix PREFIX");
      TRIDENT_CHECK(job.val_every >= 2, "--val-every is ", job.val_every,
                    "; it must be >= 2 (every Nth document to validation, the rest to training)");
      job.inputs = vm["input"].as<std::vector<std::string>>();
      job.out_prefix = vm["out-prefix"].as<std::string>();
      if (vm.count("split-on")) job.split_on = vm["split-on"].as<std::string>();
      job.tokenizer = tokenizer_from_options(vm, std::nullopt, "");  // files read here: a bad one is an input error
      for (const std::string& input : job.inputs) {
        std::error_code ec;
        TRIDENT_CHECK(fs::is_regular_file(input, ec), "--input ", input, ": no such file; pass a UTF-8 text file");
      }
    }
    return [job](Communicator& world) {
      if (world.rank() != 0) return kExitOk;  // one writer; the files are the same whoever makes them
      // No rank waits on rank 0 here, so a failure (an unreadable input, too few documents for a
      // validation split) is reported and returned rather than aborting the job.
      try {
        return job.use_default ? run_default(job) : run_files(job);
      } catch (const Error& e) {
        std::fprintf(stderr, "trident: error: %s\n", e.what());
        return kExitFailed;
      }
    };
  };
  return c;
}

}  // namespace trident
