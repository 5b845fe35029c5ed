// Model weights in and out on one rank: Hugging Face GPT-2 folders (config.json both ways, the
// variants refused, every missing / extra / mis-shaped tensor named, Hugging Face's own naming
// accepted, the tokenizer carried along), training checkpoints read as weights, the sampler, and
// (where PyTorch is importable) an exported folder's logits in PyTorch against trident's.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include "core/rng.h"
#include "core/safetensors.h"
#include "experiments/data/bpe_tokenizer.h"
#include "experiments/train/checkpoint_files.h"
#include "experiments/train/generator.h"
#include "experiments/train/hf_folder.h"
#include "experiments/train/metrics.h"
#include "experiments/train/model_weights.h"
#include "tests/gpt_test_util.h"
#include "tests/temp_dir_test.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using testing_util::tiny_config;
using ModelIo = testing_util::TempDirTest;
using Tensors = std::vector<std::pair<std::string, Tensor>>;

Tensors initial_tensors(const GptConfig& c) {
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  Tensors out;
  for (Parameter* p : m.parameters()) out.emplace_back(p->name(), p->value.clone());
  return out;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error naming: " << parts.front();
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

void set_config_key(const std::string& dir, const std::string& key, const nlohmann::json& value) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  j[key] = value;
  std::ofstream(path) << j.dump();
}

TEST_F(ModelIo, ConfigJsonRoundTripsAndRefusesOtherVariants) {
  const GptConfig c = tiny_config();
  write_hf_gpt2_folder(file("hf"), c, initial_tensors(c), nullptr);
  EXPECT_FALSE(fs::exists(file("hf.tmp")));
  const GptConfig r = read_hf_gpt2_config(file("hf"));
  EXPECT_EQ(std::tie(r.layers, r.hidden, r.heads, r.seq_len, r.vocab), std::tie(c.layers, c.hidden, c.heads, c.seq_len, c.vocab));
  EXPECT_FLOAT_EQ(r.ln_eps, c.ln_eps);
  EXPECT_NO_THROW(check_hf_gpt2_folder(file("hf"), c));
  expect_error([&] { write_hf_gpt2_folder(file("hf"), c, initial_tensors(c), nullptr); }, {"already exists"});
  set_config_key(file("hf"), "activation_function", "relu");
  expect_error([&] { read_hf_gpt2_config(file("hf")); }, {"activation_function is relu"});
  set_config_key(file("hf"), "activation_function", "gelu_new");
  set_config_key(file("hf"), "tie_word_embeddings", false);
  expect_error([&] { read_hf_gpt2_config(file("hf")); }, {"tie_word_embeddings is false"});
  set_config_key(file("hf"), "tie_word_embeddings", true);
  set_config_key(file("hf"), "n_inner", 7);
  expect_error([&] { read_hf_gpt2_config(file("hf")); }, {"n_inner is 7"});
}

TEST_F(ModelIo, FolderMismatchesAreAllNamed) {
  const GptConfig c = tiny_config();
  Tensors t = initial_tensors(c);
  std::erase_if(t, [](const auto& p) { return p.first == "h.1.mlp.c_fc.bias"; });  // missing
  t.emplace_back("h.0.attn.rotary", Tensor::zeros({4}));                           // extra
  for (auto& [name, tensor] : t)
    if (name == "ln_f.weight") tensor = Tensor::zeros({c.hidden + 1});             // mis-shaped
  write_hf_gpt2_folder(file("bad"), c, t, nullptr);
  expect_error([&] { check_hf_gpt2_folder(file("bad"), c); },
               {"missing h.1.mlp.c_fc.bias", "extra h.0.attn.rotary", "'ln_f.weight' is f32 [17] but this model needs f32 [16]"});
  GptConfig deeper = c;
  deeper.layers = 3;
  expect_error([&] { check_hf_gpt2_folder(file("bad"), deeper); }, {"model.layers is 3 but n_layer is 2"});
  GptConfig longer = c;
  longer.seq_len = c.seq_len + 1;
  expect_error([&] { check_hf_gpt2_folder(file("bad"), longer); }, {"model.seq_len 9 exceeds n_positions 8"});
}

// What Hugging Face writes: the "transformer." prefix, causal-mask buffers, a tied lm_head, and a
// longer position table than the model uses.
TEST_F(ModelIo, HuggingFaceNamingLoads) {
  GptConfig c = tiny_config();
  const Tensors t = initial_tensors(c);
  Tensors hf;
  for (const auto& [name, tensor] : t) {
    Tensor v = tensor;
    if (name == "wpe.weight") {  // 12 positions on file; the model keeps 8
      v = Tensor::zeros({12, c.hidden});
      v.slice0(0, c.seq_len).copy_from(tensor);
    }
    hf.emplace_back("transformer." + name, v);
  }
  hf.emplace_back("transformer.h.0.attn.bias", Tensor::zeros({1, 1, 12, 12}));
  hf.emplace_back("lm_head.weight", t.front().second.clone());  // wte
  GptConfig file_config = c;
  file_config.seq_len = 12;
  write_hf_gpt2_folder(file("hf"), file_config, hf, nullptr);
  EXPECT_NO_THROW(check_hf_gpt2_folder(file("hf"), c));
  const ModelWeights w(file("hf"));
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  w.load(m.parameters());
  for (const auto& [name, tensor] : t)
    EXPECT_EQ(std::memcmp(m.find(name)->value.raw(), tensor.raw(), tensor.nbytes()), 0) << name;
  // An untied lm_head cannot load into a tied model.
  Tensors untied = hf;
  untied.back().second.data<float>()[0] += 1.0f;
  write_hf_gpt2_folder(file("untied"), file_config, untied, nullptr);
  expect_error([&] { check_hf_gpt2_folder(file("untied"), c); }, {"lm_head.weight differs from wte.weight"});
}

TEST_F(ModelIo, TokenizerGoesIntoTheFolder) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[gpt2_byte_symbols()[static_cast<std::size_t>(b)]] = b;
  vocab["he"] = 256;
  vocab["<|endoftext|>"] = 257;
  std::ofstream(file("vocab.json")) << vocab.dump();
  std::ofstream(file("merges.txt")) << "#version: 0.2\nh e\n";
  const Gpt2BpeTokenizer bpe(file("vocab.json"), file("merges.txt"));
  GptConfig c = tiny_config();
  c.vocab = 258;
  write_hf_gpt2_folder(file("hf"), c, initial_tensors(c), &bpe);
  EXPECT_TRUE(fs::exists(file("hf/vocab.json")) && fs::exists(file("hf/merges.txt")));
  const auto record = hf_folder_tokenizer_record(file("hf"));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ((*record)["vocab"], fs::absolute(file("hf/vocab.json")).lexically_normal().string());
  EXPECT_EQ(load_tokenizer(*record, "folder")->encode("hehe"), (std::vector<std::uint16_t>{256, 256}));
  std::ifstream in(file("hf/config.json"));
  EXPECT_EQ(nlohmann::json::parse(in)["eos_token_id"], 257);
}

// A checkpoint as the trainer writes it (checkpoint_files.h), read as weights: sizes, tensors,
// ln_eps from the run's config.json when the checkpoint predates recording it, the run's tokenizer.
TEST_F(ModelIo, CheckpointsReadAsWeights) {
  GptConfig c = tiny_config();
  c.ln_eps = 1e-6f;
  const std::string run = file("run"), ckpt = run + "/checkpoints/step_3";
  fs::create_directories(ckpt);
  const Tensors t = initial_tensors(c);
  const std::size_t half = t.size() / 2;  // two pipeline stages' files
  write_safetensors(ckpt + "/model-pp0.safetensors", Tensors(t.begin(), t.begin() + half));
  write_safetensors(ckpt + "/model-pp1.safetensors", Tensors(t.begin() + half, t.end()));
  nlohmann::json files;
  for (const char* f : {"model-pp0.safetensors", "model-pp1.safetensors"})
    files[f] = {{"bytes", fs::file_size(ckpt + "/" + f)}, {"crc32", file_crc32(ckpt + "/" + f)}};
  write_json_atomic(ckpt + "/trainer.json",
                    {{"format", kCheckpointFormat}, {"step", 3}, {"files", files},
                     {"model", {{"layers", c.layers}, {"hidden", c.hidden}, {"heads", c.heads}, {"seq_len", c.seq_len},
                                {"vocab", c.vocab}}}});
  write_json_atomic(run + "/config.json", {{"model", {{"ln_eps", 1e-6}}}});
  write_tokenizer_record(run + "/tokenizer.json", byte_tokenizer());

  const ModelWeights w(ckpt);
  ASSERT_TRUE(w.is_checkpoint());
  EXPECT_EQ(w.config().layers, c.layers);
  EXPECT_FLOAT_EQ(w.config().ln_eps, 1e-6f);
  EXPECT_TRUE(w.notes().empty());
  EXPECT_NO_THROW(w.check(c));
  EXPECT_EQ((*w.tokenizer_record())["kind"], "byte");
  const Tensors all = w.read_all(c);
  ASSERT_EQ(all.size(), t.size());
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(std::memcmp(all[i].second.raw(), t[i].second.raw(), t[i].second.nbytes()), 0);
  GptConfig other = c;
  other.hidden = 32;
  expect_error([&] { w.check(other); }, {"model.hidden = 16 but this model has 32"});
  fs::remove(run + "/config.json");
  EXPECT_EQ(ModelWeights(ckpt).notes().size(), 1u);  // ln_eps assumed, and said so
  expect_error([&] { ModelWeights m(file("nothing")); }, {"neither a training checkpoint"});
}

TEST(Sampler, GreedyTopKAndSeeds) {
  const std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f, 1.5f};
  SamplingOptions greedy;
  greedy.temperature = 0;
  EXPECT_EQ(sample_token(logits, greedy, 1, 0), 1);  // ties go to the lower id
  SamplingOptions top1;
  top1.top_k = 1;
  EXPECT_EQ(sample_token(logits, top1, 1, 0), 1);
  SamplingOptions top3;
  top3.top_k = 3;  // ids 1, 2 and 4
  std::map<int, int> seen;
  for (std::uint64_t i = 0; i < 3000; ++i) ++seen[sample_token(logits, top3, rng_key(7, "t"), i)];
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.count(0) + seen.count(3), 0u);
  // p(1) = p(2) = e^0.5 / (2e^0.5 + 1) ≈ 0.384, p(4) ≈ 0.233: within 4 sigma of 3000 draws.
  EXPECT_NEAR(seen[4] / 3000.0, 1.0 / (2.0 * std::exp(0.5) + 1.0), 0.035);
  EXPECT_EQ(sample_token(logits, top3, 99, 5), sample_token(logits, top3, 99, 5));  // a seed repeats
  const std::vector<float> bad = {0.0f, NAN};
  EXPECT_THROW(sample_token(bad, top3, 1, 0), Error);
}

// trident's logits for every position of a few sequences, next to an exported folder, checked by
// tests/check_hf_export.py in PyTorch (skipped where PyTorch is not importable).
TEST_F(ModelIo, ExportedFolderGivesTheSameLogitsInPyTorch) {
  GptConfig c = tiny_config();
  c.ln_eps = 1e-5f;
  write_hf_gpt2_folder(file("hf"), c, initial_tensors(c), nullptr);
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const Tensor ids = testing_util::random_tokens(2, c, 9, "ids");
  Tensor logits = Tensor::empty({2, c.seq_len, c.vocab});
  KvCache cache = m.make_kv_cache(2);
  for (std::int64_t t = 0; t < c.seq_len; ++t) {
    Tensor col = Tensor::empty({2, 1}, DType::kI32);
    for (int b = 0; b < 2; ++b) col.data<std::int32_t>()[b] = ids.data<std::int32_t>()[b * c.seq_len + t];
    const Tensor l = m.forward_cached(col, cache);
    for (int b = 0; b < 2; ++b)
      std::copy_n(l.data<float>() + b * c.vocab, c.vocab, logits.data<float>() + (b * c.seq_len + t) * c.vocab);
  }
  write_safetensors(file("expected.safetensors"), {{"ids", ids}, {"logits", logits}});
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string cmd = python + " " + TRIDENT_SOURCE_DIR + "/tests/check_hf_export.py " + file("hf") + " " +
                          file("expected.safetensors") + " > " + file("check.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(file("check.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) GTEST_SKIP() << text;
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << text;
  std::cout << text;
}

}  // namespace
}  // namespace trident
