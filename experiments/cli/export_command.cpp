// `trident export`: a model as a Hugging Face GPT-2 folder (experiments/train/hf_folder.h), from
//   --checkpoint DIR   a training checkpoint, whatever layout wrote it (checkpoints hold full
//                      tensors; ZeRO and TP shards are gathered when they are saved)
//   --config/--set     the initial model of a train config, with no training step: initial values
//                      depend only on (model.seed, name, index), so this is what every layout of
//                      that config starts from
//   trident export --checkpoint runs/default/checkpoints/step_100 --out runs/default/hf
//   trident export --config my.json --set model.seed=7 --out init_hf
// The tokenizer goes with it: --vocab/--merges or --tokenizer byte, else the one recorded by the
// checkpoint's run (<out_dir>/tokenizer.json) or next to the config's data.train (the default
// corpus: bytes). Runs on rank 0; other ranks exit at once.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/tokenizer_option.h"
#include "experiments/plan/train_config.h"
#include "experiments/train/hf_folder.h"
#include "experiments/train/model_weights.h"
#include "layers/gpt_chunk.h"
#include "parallel/communicator.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

namespace {

struct ExportJob {
  std::string checkpoint;            // or, when empty, the initial model of `model`
  GptConfig model;
  std::string out;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: none known (weights and config only)
  std::vector<std::string> notes;
};

// The full model's GPT-2 tensors at initialisation: one whole-model chunk on the host (tp = 1, so
// its tensors are already full and unpadded).
std::vector<std::pair<std::string, Tensor>> initial_tensors(const GptConfig& model) {
  GptChunk whole(model, ChunkLayout::whole(model), nullptr, {});
  std::vector<std::pair<std::string, Tensor>> out;
  for (Parameter* p : whole.parameters()) out.emplace_back(p->name(), p->value);
  return out;
}

int run_export(const ExportJob& job) {
  const auto tensors = job.checkpoint.empty() ? initial_tensors(job.model) : ModelWeights(job.checkpoint).read_all(job.model);
  write_hf_gpt2_folder(job.out, job.model, tensors, job.tokenizer.get());
  const GptConfig& c = job.model;
  std::string out = "trident export: " + (job.checkpoint.empty() ? "initial model (model.seed " + std::to_string(c.seed) + ")"
                                                                  : "checkpoint " + job.checkpoint) +
                    " -> " + job.out + "\n  model    layers " + std::to_string(c.layers) + ", hidden " +
                    std::to_string(c.hidden) + ", heads " + std::to_string(c.heads) + ", seq_len " +
                    std::to_string(c.seq_len) + ", vocab " + std::to_string(c.vocab) + ": " +
                    std::to_string(c.parameter_count()) + " parameters in " + std::to_string(tensors.size()) +
                    " tensors\n  files    config.json, model.safetensors";
  if (!job.tokenizer) out += "\n  tokenizer: none known (pass --vocab/--merges or --tokenizer byte to include one)";
  else if (job.tokenizer->kind() == "gpt2-bpe") out += ", vocab.json, merges.txt, trident_tokenizer.json (GPT-2 BPE)";
  else out += ", trident_tokenizer.json (byte tokenizer; Hugging Face has no form for it)";
  for (const std::string& n : job.notes) out += "\n  note: " + n;
  std::puts(out.c_str());
  return kExitOk;
}

}  // namespace

Command make_export_command() {
  Command c;
  c.name = "export";
  c.summary = "write a checkpoint, or a config's initial model, as a Hugging Face GPT-2 folder";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("checkpoint", po::value<std::string>(), "training checkpoint directory (any layout)")
      ("config", po::value<std::string>(), "train config whose initial model to export (no training step)")
      ("set", po::value<std::vector<std::string>>()->composing(), "config override, e.g. --set model.seed=7 (repeatable)")
      ("out", po::value<std::string>(), "the folder to create (must not exist)");
    declare_tokenizer_options(d, "the one the checkpoint's run or the config's data recorded");
  };
  c.prepare = [](const po::variables_map& vm, int /*world_size*/) -> Command::Job {
    TRIDENT_CHECK(vm.count("out"), "pass --out DIR, the Hugging Face folder to create");
    const bool from_checkpoint = vm.count("checkpoint") != 0;
    TRIDENT_CHECK(from_checkpoint != (vm.count("config") || vm.count("set")),
                  "pass --checkpoint DIR (trained weights) or --config FILE / --set (a config's initial model), one of them");
    ExportJob job;
    job.out = vm["out"].as<std::string>();
    TRIDENT_CHECK(!fs::exists(job.out), "--out ", job.out, " already exists; remove it or choose another folder");
    std::optional<nlohmann::json> recorded;
    std::string where;
    if (from_checkpoint) {
      job.checkpoint = vm["checkpoint"].as<std::string>();
      const ModelWeights weights(job.checkpoint);  // verifies the checkpoint's checksums
      TRIDENT_CHECK(weights.is_checkpoint(), "--checkpoint ", job.checkpoint,
                    " is a Hugging Face folder already; copy it instead of exporting it");
      job.model = weights.config();
      weights.check(job.model);
      job.notes = weights.notes();
      recorded = weights.tokenizer_record();
      where = run_dir_of_checkpoint(job.checkpoint) + "/tokenizer.json";
    } else {
      const std::vector<std::string> sets = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
      const TrainConfig config = vm.count("config") ? load_train_config(vm["config"].as<std::string>(), sets)
                                                    : parse_train_config(nlohmann::json::object(), sets);
      job.model = config.model;
      // The run would train on data.train, or on the (byte-level) default corpus without it.
      where = config.data.train.empty() ? "the default corpus" : tokenizer_record_path(config.data.train);
      recorded = config.data.train.empty() ? std::optional<nlohmann::json>(byte_tokenizer().record())
                                           : read_tokenizer_record(where);
    }
    job.tokenizer = tokenizer_from_options(vm, recorded, where);
    if (job.tokenizer)
      TRIDENT_CHECK(job.tokenizer->vocab_size() <= job.model.vocab, "the ", job.tokenizer->kind(), " tokenizer has ",
                    job.tokenizer->vocab_size(), " ids but the model's vocab is ", job.model.vocab,
                    ": it cannot be this model's tokenizer");
    return [job](Communicator& world) {
      if (world.rank() != 0) return kExitOk;
      try {
        return run_export(job);
      } catch (const Error& e) {
        std::fprintf(stderr, "trident: error: %s\n", e.what());
        return kExitFailed;
      }
    };
  };
  return c;
}

}  // namespace trident
