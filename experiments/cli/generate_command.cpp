// `trident generate`: sample continuations of a prompt from a training checkpoint or a Hugging Face
// GPT-2 folder, on pp × tp ranks (any layout: the weights hold full tensors), with a KV cache
// (experiments/train/generator.h). Prints the text, decoded with the tokenizer the model was
// trained with, and the prefill and decode speed.
//   trident generate --checkpoint runs/default/checkpoints/step_100 --prompt "The meaning of life"
//   mpirun -np 4 trident generate --checkpoint DIR --pp 2 --tp 2 --temperature 0 --prompt "Hi"
// Prompts: --prompt TEXT, --prompt-file FILE, or --prompt-ids 17,42,… (token ids, no tokenizer
// needed). An empty prompt, one of model.seq_len tokens or more (nothing left to generate into) and
// ids outside the vocabulary are input errors; a run that reaches model.seq_len stops there and
// says so.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/tokenizer_option.h"
#include "experiments/train/generator.h"
#include "experiments/train/metrics.h"
#include "experiments/train/trainer.h"
#include "parallel/comm_factory.h"

namespace po = boost::program_options;

namespace trident {

namespace {

struct GenerateJob {
  std::string weights_dir;
  std::shared_ptr<const ModelWeights> weights;  // opened (and a checkpoint verified) once, in the input phase
  GptConfig model;
  int pp = 1, tp = 1, samples = 1;
  DevicePlan device;
  std::string precision = "auto";
  SamplingOptions sampling;
  std::vector<std::int32_t> prompt;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: print ids only
  std::string out;                             // JSON result file, or ""
  std::vector<std::string> notes;
};

std::vector<std::int32_t> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TRIDENT_CHECK(used == item.size() && !item.empty() && v >= 0 && v < (1LL << 31), "--prompt-ids: '", item,
                  "' is not a token id (comma-separated integers >= 0, e.g. 464,3290)");
    ids.push_back(static_cast<std::int32_t>(v));
  }
  return ids;
}

std::string prompt_text(const po::variables_map& vm) {
  if (vm.count("prompt")) return vm["prompt"].as<std::string>();
  const std::string path = vm["prompt-file"].as<std::string>();
  std::ifstream in(path, std::ios::binary);
  TRIDENT_CHECK(in.good(), "--prompt-file ", path, ": cannot read it");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string decode(const GenerateJob& job, const std::vector<std::int32_t>& ids) {
  if (!job.tokenizer) return "";
  std::vector<std::uint16_t> t(ids.begin(), ids.end());
  return job.tokenizer->decode(t);
}

nlohmann::json result_json(const GenerateJob& job, const Generation& g) {
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& s : g.tokens) samples.push_back({{"ids", s}, {"text", decode(job, s)}});
  const double decoded = static_cast<double>(g.decode_steps) * job.samples;
  return {{"weights", job.weights_dir},
          {"layout", {{"pp", job.pp}, {"tp", job.tp}}},
          {"sampling", {{"temperature", job.sampling.temperature}, {"top_k", job.sampling.top_k},
                        {"seed", job.sampling.seed}, {"max_new_tokens", job.sampling.max_new_tokens}}},
          {"prompt_ids", job.prompt},
          {"prompt_text", decode(job, job.prompt)},
          {"samples", samples},
          {"hit_context", g.hit_context},
          {"prefill_seconds", g.prefill_seconds},
          {"prefill_tokens_per_s", static_cast<double>(g.prompt_tokens * job.samples) / g.prefill_seconds},
          {"decode_seconds", g.decode_seconds},
          {"decode_tokens_per_s", g.decode_seconds > 0 ? decoded / g.decode_seconds : 0.0}};
}

int run_generate(const GenerateJob& job, Communicator& world) {
  const Device device = resolve_training_device(job.device, world);
  const DType dtype = job.precision == "auto" ? (device.is_cuda() ? DType::kBF16 : DType::kF32) : parse_dtype(job.precision);
  const auto device_world = make_device_world(world, device, CommBackend::kAuto);
  Generator generator(job.model, *job.weights, *device_world, job.pp, job.tp, device, dtype);
  const Generation g = generator.generate(job.prompt, job.samples, job.sampling);
  if (world.rank() != 0) return kExitOk;
  const nlohmann::json r = result_json(job, g);
  std::string out;
  for (std::size_t i = 0; i < g.tokens.size(); ++i) {
    out += "---- sample " + std::to_string(i + 1) + " ----\n";
    out += job.tokenizer ? decode(job, job.prompt) + decode(job, g.tokens[i]) : r["samples"][i]["ids"].dump();
    out += "\n";
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "----\nprefill %lld prompt tokens x %d: %.1f ms (%.0f tokens/s) | decode %d steps x %d: %.1f ms "
                "(%.0f tokens/s) | KV cache, pp %d x tp %d, %s %s\n",
                static_cast<long long>(g.prompt_tokens), job.samples, 1e3 * g.prefill_seconds,
                r["prefill_tokens_per_s"].get<double>(), g.decode_steps, job.samples, 1e3 * g.decode_seconds,
                r["decode_tokens_per_s"].get<double>(), job.pp, job.tp, device.str().c_str(), dtype_name(dtype).data());
  out += line;
  if (g.hit_context)
    out += "stopped at the model's context of " + std::to_string(job.model.seq_len) + " tokens (model.seq_len)\n";
  for (const std::string& n : job.notes) out += "note: " + n + "\n";
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  if (!job.out.empty()) write_json_atomic(job.out, r);
  return kExitOk;
}

}  // namespace

Command make_generate_command() {
  Command c;
  c.name = "generate";
  c.summary = "sample text from a checkpoint or Hugging Face GPT-2 folder on pp x tp ranks (KV cache)";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("checkpoint", po::value<std::string>(), "training checkpoint (any layout) or Hugging Face GPT-2 folder")
      ("prompt", po::value<std::string>(), "text to continue")
      ("prompt-file", po::value<std::string>(), "file whose text to continue")
      ("prompt-ids", po::value<std::string>(), "token ids to continue, comma-separated (no tokenizer needed)")
      ("max-new-tokens", po::value<int>()->default_value(64), "tokens to generate per sample (stops earlier at model.seq_len)")
      ("temperature", po::value<double>()->default_value(1.0), "softmax temperature; 0: greedy (argmax)")
      ("top-k", po::value<int>()->default_value(0), "sample among the k most likely tokens; 0: all")
      ("seed", po::value<std::uint64_t>()->default_value(1234), "sampling seed")
      ("samples", po::value<int>()->default_value(1), "continuations to sample, as one batch")
      ("no-stop", po::bool_switch(), "keep going past the end-of-text token")
      ("pp", po::value<int>()->default_value(1), "pipeline stages (world size = pp x tp)")
      ("tp", po::value<int>()->default_value(1), "tensor-parallel ranks per stage")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu, cuda (each rank its local GPU) or cuda:N")
      ("precision", po::value<std::string>()->default_value("auto"), "auto (bf16 on cuda, f32 on cpu), f32 or bf16")
      ("out", po::value<std::string>(), "also write the result as JSON here");
    declare_tokenizer_options(d, "the tokenizer the checkpoint's run or the folder recorded");
  };
  c.prepare = [](const po::variables_map& vm, int world_size) -> Command::Job {
    GenerateJob job;
    TRIDENT_CHECK(vm.count("checkpoint"), "pass --checkpoint DIR: a training checkpoint or a Hugging Face GPT-2 folder");
    job.weights_dir = vm["checkpoint"].as<std::string>();
    job.pp = vm["pp"].as<int>();
    job.tp = vm["tp"].as<int>();
    TRIDENT_CHECK(job.pp >= 1 && job.tp >= 1, "--pp and --tp must be >= 1");
    TRIDENT_CHECK(world_size == job.pp * job.tp, "world size ", world_size, " does not equal pp*tp = ", job.pp, "*",
                  job.tp, " = ", job.pp * job.tp, ": launch pp*tp ranks");
    job.weights = std::make_shared<const ModelWeights>(job.weights_dir);
    const ModelWeights& weights = *job.weights;
    job.model = weights.config();
    weights.check(job.model);
    job.notes = weights.notes();
    TRIDENT_CHECK(job.model.layers >= job.pp, "--pp ", job.pp, " exceeds the model's ", job.model.layers,
                  " layers: every stage needs a block");
    TRIDENT_CHECK(job.model.heads % job.tp == 0, "--tp ", job.tp, " does not divide the model's ", job.model.heads,
                  " heads");
    const std::string device = vm["device"].as<std::string>();
    job.device = device == "cuda" ? DevicePlan{Device::cuda(0), true} : DevicePlan{Device::parse(device), false};
    job.precision = vm["precision"].as<std::string>();
    TRIDENT_CHECK(job.precision == "auto" || job.precision == "f32" || job.precision == "bf16", "--precision is ",
                  job.precision, "; use auto, f32 or bf16");
    TRIDENT_CHECK(!(job.device.device.is_cpu() && job.precision == "bf16"), "--precision bf16 needs --device cuda");
    job.samples = vm["samples"].as<int>();
    SamplingOptions& s = job.sampling;
    s.max_new_tokens = vm["max-new-tokens"].as<int>();
    s.temperature = vm["temperature"].as<double>();
    s.top_k = vm["top-k"].as<int>();
    s.seed = vm["seed"].as<std::uint64_t>();
    TRIDENT_CHECK(s.max_new_tokens >= 1 && job.samples >= 1, "--max-new-tokens and --samples must be >= 1");
    TRIDENT_CHECK(s.temperature >= 0 && s.top_k >= 0, "--temperature and --top-k must be >= 0 (0: greedy / all)");
    job.tokenizer = tokenizer_from_options(vm, weights.tokenizer_record(), job.weights_dir + " (its recorded tokenizer)");
    if (job.tokenizer) {
      TRIDENT_CHECK(job.tokenizer->vocab_size() <= job.model.vocab, "the ", job.tokenizer->kind(), " tokenizer has ",
                    job.tokenizer->vocab_size(), " ids but the model's vocab is ", job.model.vocab,
                    ": it is not this model's tokenizer");
      if (!vm["no-stop"].as<bool>()) s.stop_token = job.tokenizer->eot();
    }
    TRIDENT_CHECK(vm.count("prompt") + vm.count("prompt-file") + vm.count("prompt-ids") == 1,
                  "pass one of --prompt TEXT, --prompt-file FILE or --prompt-ids 1,2,3");
    if (vm.count("prompt-ids")) {
      job.prompt = parse_ids(vm["prompt-ids"].as<std::string>());
    } else {
      TRIDENT_CHECK(job.tokenizer, "no tokenizer is recorded for ", job.weights_dir,
                    "; pass --vocab vocab.json --merges merges.txt or --tokenizer byte (or give --prompt-ids)");
      const std::vector<std::uint16_t> t = job.tokenizer->encode(prompt_text(vm));
      job.prompt.assign(t.begin(), t.end());
    }
    TRIDENT_CHECK(!job.prompt.empty(), "the prompt is empty: give some text (or ids) for the model to continue");
    TRIDENT_CHECK(static_cast<std::int64_t>(job.prompt.size()) < job.model.seq_len, "the prompt is ",
                  job.prompt.size(), " tokens but the model's context is ", job.model.seq_len,
                  " (model.seq_len): shorten it to at most ", job.model.seq_len - 1, " tokens");
    for (std::size_t i = 0; i < job.prompt.size(); ++i)
      TRIDENT_CHECK(job.prompt[i] < job.model.vocab, "prompt token ", i, " is ", job.prompt[i],
                    ", outside the model's vocabulary of ", job.model.vocab);
    if (vm.count("out")) job.out = vm["out"].as<std::string>();
    return [job](Communicator& world) { return run_generate(job, world); };
  };
  return c;
}

}  // namespace trident
