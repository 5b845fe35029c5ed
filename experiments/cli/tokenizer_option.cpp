#include "experiments/cli/tokenizer_option.h"

#include "core/error.h"
#include "experiments/data/bpe_tokenizer.h"

namespace po = boost::program_options;

namespace trident {

void declare_tokenizer_options(po::options_description& d, const std::string& when_absent) {
  d.add_options()
    ("vocab", po::value<std::string>(), ("GPT-2 BPE tokenizer: vocab.json (with --merges); without: " + when_absent).c_str())
    ("merges", po::value<std::string>(), "GPT-2 BPE tokenizer: merges.txt (with --vocab)")
    ("tokenizer", po::value<std::string>(), "byte: the byte tokenizer");
}

std::unique_ptr<Tokenizer> tokenizer_from_options(const po::variables_map& vm,
                                                  const std::optional<nlohmann::json>& recorded,
                                                  const std::string& recorded_where) {
  TRIDENT_CHECK(vm.count("vocab") == vm.count("merges"),
                "GPT-2 BPE needs both --vocab vocab.json and --merges merges.txt");
  if (vm.count("tokenizer")) {
    const std::string kind = vm["tokenizer"].as<std::string>();
    TRIDENT_CHECK(kind == "byte", "--tokenizer is '", kind,
                  "'; it takes byte (for GPT-2 BPE pass --vocab and --merges instead)");
    TRIDENT_CHECK(!vm.count("vocab"), "--tokenizer byte and --vocab/--merges name two tokenizers; pass one");
    return load_tokenizer(byte_tokenizer().record(), "--tokenizer");
  }
  if (vm.count("vocab"))
    return std::make_unique<Gpt2BpeTokenizer>(vm["vocab"].as<std::string>(), vm["merges"].as<std::string>());
  if (recorded) return load_tokenizer(*recorded, recorded_where);
  return nullptr;
}

}  // namespace trident
