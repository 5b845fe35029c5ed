// The tokenizer flags `trident data`, `export` and `generate` share, and how they pick one:
//   --vocab vocab.json --merges merges.txt   GPT-2 BPE from these files
//   --tokenizer byte                          the byte tokenizer
//   neither                                   the command's default (data: bytes; export and
//                                             generate: the record the weights came with)
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "experiments/data/tokenizer.h"

namespace trident {

// `when_absent` completes the help text: what the command uses without these flags.
void declare_tokenizer_options(boost::program_options::options_description& d, const std::string& when_absent);

// The flags' tokenizer, else load_tokenizer(*recorded, recorded_where), else null. Throws naming
// the flag on a half-given pair or an unknown --tokenizer.
std::unique_ptr<Tokenizer> tokenizer_from_options(const boost::program_options::variables_map& vm,
                                                  const std::optional<nlohmann::json>& recorded,
                                                  const std::string& recorded_where);

}  // namespace trident
