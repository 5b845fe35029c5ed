// The training config (defaults, JSON round trip, --set overrides, and a message naming the field
// for every bad input) and the run's output files (metrics.jsonl, atomic JSON, summary table).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "experiments/train/metrics.h"
#include "experiments/plan/train_config.h"
#include "schedules/generators.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("trident_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// The message of the Error that parsing (JSON + overrides) throws; fails the test if none.
std::string error_of(const json& config, const std::vector<std::string>& overrides = {}) {
  try {
    parse_train_config(config, overrides);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << config.dump() << " with " << overrides.size() << " overrides";
  return "";
}

// The same for --set overrides over an empty config.
std::string set_error(const std::vector<std::string>& overrides) { return error_of(json::object(), overrides); }

// ---- defaults and round trip --------------------------------------------------------------------

TEST(TrainConfig, EmptyObjectIsTheDefaultExperiment) {
  const TrainConfig c = parse_train_config(json::object());
  EXPECT_EQ(c.model.layers, 4);
  EXPECT_EQ(c.model.hidden, 128);
  EXPECT_EQ(c.model.heads, 4);
  EXPECT_EQ(c.model.seq_len, 128);
  EXPECT_EQ(c.model.vocab, 257);
  EXPECT_EQ(c.layout.dp, 2);
  EXPECT_EQ(c.layout.pp, 2);
  EXPECT_EQ(c.layout.tp, 2);
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.layout.schedule, "1f1b");
  EXPECT_EQ(c.layout.order, "tp-pp-dp");
  EXPECT_EQ(c.layout.micro_batches, 4);
  EXPECT_EQ(c.layout.micro_batch_size, 4);
  EXPECT_TRUE(c.layout.layers_per_chunk.empty());
  EXPECT_EQ(c.steps, 100);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-3);
  EXPECT_EQ(c.optimizer.warmup_steps, 5);
  EXPECT_LE(c.optimizer.min_lr, c.optimizer.lr);
  EXPECT_EQ(c.eval_interval, 20);
  EXPECT_EQ(c.out_dir, "runs/default");
  EXPECT_EQ(c.device, "cpu");
  EXPECT_TRUE(c.data.train.empty());
  EXPECT_TRUE(c.resume.empty());
  EXPECT_NO_THROW(validate(c));
}

TEST(TrainConfig, ToJsonWritesEveryField) {
  const json j = to_json(parse_train_config(json::object()));
  for (const char* key : {"model", "layout", "optimizer", "data", "steps", "eval_interval", "eval_batches",
                          "checkpoint_interval", "resume", "out_dir", "device", "peak_flops", "log_interval"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["model"].size(), 8u);
  EXPECT_EQ(j["layout"].size(), 15u);
  EXPECT_EQ(j["optimizer"].size(), 8u);
  EXPECT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["model"]["ln_eps"].dump(), "1e-05");  // floats in their shortest form
  EXPECT_EQ(j["layout"]["layers_per_chunk"], json::array());
}

TEST(TrainConfig, RoundTripIsIdentity) {
  const TrainConfig defaults = parse_train_config(json::object());
  EXPECT_EQ(to_json(parse_train_config(to_json(defaults))), to_json(defaults));

  const TrainConfig c = parse_train_config(
      json::parse(R"({"model": {"layers": 6, "hidden": 96, "heads": 6, "seq_len": 48, "vocab": 300,
                                "seed": 18446744073709551615, "ln_eps": 1e-6, "init_std": 0.01},
                      "layout": {"dp": 1, "pp": 3, "tp": 3, "order": "pp-tp-dp", "schedule": "interleaved",
                                 "micro_batches": 6, "micro_batch_size": 2, "v": 2,
                                 "layers_per_chunk": [1, 1, 1, 1, 0, 2], "sequence_parallel": true,
                                 "recompute": "selective", "zero": 2, "bucket_mb": 2.5,
                                 "overlap_grad_reduce": false},
                      "optimizer": {"lr": 3e-4, "min_lr": 0, "warmup_steps": 0, "beta1": 0.8, "beta2": 0.99,
                                    "eps": 1e-6, "weight_decay": 0, "grad_clip": 0},
                      "data": {"seed": 7},
                      "steps": 3, "eval_interval": 0, "eval_batches": 2, "checkpoint_interval": 1,
                      "out_dir": "runs/x", "device": "cuda:1", "peak_flops": 1.5e12, "log_interval": 5})"));
  EXPECT_EQ(c.model.seed, 18446744073709551615ull);
  EXPECT_FLOAT_EQ(c.model.ln_eps, 1e-6f);
  EXPECT_EQ(c.layout.layers_per_chunk, (std::vector<std::int64_t>{1, 1, 1, 1, 0, 2}));
  EXPECT_TRUE(c.layout.sequence_parallel);
  EXPECT_FALSE(c.layout.overlap_grad_reduce);
  EXPECT_DOUBLE_EQ(c.layout.bucket_mb, 2.5);
  EXPECT_EQ(c.layout.zero, 2);
  EXPECT_EQ(c.device, "cuda:1");
  const json once = to_json(c);
  const TrainConfig back = parse_train_config(once);
  EXPECT_EQ(to_json(back), once);
  EXPECT_EQ(back.model.ln_eps, c.model.ln_eps);  // bit-exact through the shortest float form
  EXPECT_EQ(back.model.init_std, c.model.init_std);
  EXPECT_EQ(back.optimizer.lr, c.optimizer.lr);
}

TEST(TrainConfig, LoadsAFileWithComments) {
  TempDir dir;
  write_text(dir.file("c.json"), "{\n  // a smaller run\n  \"steps\": 7,\n  \"layout\": {\"tp\": 1}\n}\n");
  const TrainConfig c = load_train_config(dir.file("c.json"), {"layout.pp=1"});
  EXPECT_EQ(c.steps, 7);
  EXPECT_EQ(c.layout.tp, 1);
  EXPECT_EQ(c.layout.pp, 1);
  EXPECT_EQ(c.layout.dp, 2);
}

// ---- overrides ----------------------------------------------------------------------------------

TEST(TrainConfig, OverridesNumbersBoolsStringsAndObjects) {
  const TrainConfig c = parse_train_config(
      json::parse(R"({"layout": {"tp": 1}, "steps": 9})"),
      {"layout.tp=4", "optimizer.lr=3e-4", "layout.sequence_parallel=true", "layout.schedule=gpipe",
       "out_dir=2024", "data.seed=99", "layout.layers_per_chunk=[3,1]", "optimizer={\"beta1\": 0.5, \"eps\": 1e-7}",
       "layout.recompute=\"full\""});
  EXPECT_EQ(c.layout.tp, 4);         // the override wins over the JSON
  EXPECT_EQ(c.steps, 9);             // the JSON wins over the default
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 3e-4);
  EXPECT_TRUE(c.layout.sequence_parallel);
  EXPECT_EQ(c.layout.schedule, "gpipe");
  EXPECT_EQ(c.out_dir, "2024");      // a string field keeps the text as written
  EXPECT_EQ(c.data.seed, 99u);
  EXPECT_EQ(c.layout.layers_per_chunk, (std::vector<std::int64_t>{3, 1}));
  EXPECT_DOUBLE_EQ(c.optimizer.beta1, 0.5);
  EXPECT_DOUBLE_EQ(c.optimizer.eps, 1e-7);
  EXPECT_DOUBLE_EQ(c.optimizer.beta2, 0.95);  // untouched by the object override
  EXPECT_EQ(c.layout.recompute, "full");      // quoted JSON string
}

TEST(TrainConfig, PresetIsTheBaseOtherModelKeysOverride) {
  const TrainConfig small = parse_train_config(json::parse(R"({"model": {"layers": 2, "preset": "small"}})"));
  EXPECT_EQ(small.model.layers, 2);
  EXPECT_EQ(small.model.hidden, 768);
  EXPECT_EQ(small.model.vocab, 50304);
  const TrainConfig mini = parse_train_config(json::object(), {"model.preset=mini"});
  EXPECT_EQ(mini.model.hidden, GptConfig::mini().hidden);
  EXPECT_EQ(mini.model.vocab, GptConfig::mini().vocab);
  EXPECT_NE(set_error({"model.preset=huge"}).find("model.preset 'huge'"), std::string::npos);
}

// ---- errors name the field ----------------------------------------------------------------------

#define EXPECT_MESSAGE(message, part)                                   \
  do {                                                                  \
    const std::string message_ = (message);                             \
    EXPECT_NE(message_.find(part), std::string::npos) << message_;      \
  } while (0)

TEST(TrainConfigErrors, MalformedJsonFileGivesLineAndColumn) {
  TempDir dir;
  write_text(dir.file("bad.json"), "{\n  \"steps\": 5,\n  \"layout\": {\"tp\": }\n}\n");
  try {
    load_train_config(dir.file("bad.json"));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_MESSAGE(m, "bad.json");
    EXPECT_MESSAGE(m, "line 3");
    EXPECT_MESSAGE(m, "column");
  }
  EXPECT_THROW(load_train_config(dir.file("missing.json")), Error);
}

TEST(TrainConfigErrors, UnknownKeys) {
  std::string m = error_of(json::parse(R"({"stepz": 3})"));
  EXPECT_MESSAGE(m, "unknown key 'stepz'");
  EXPECT_MESSAGE(m, "the top-level keys are model, layout, optimizer, data, steps");
  EXPECT_MESSAGE(m, "did you mean 'steps'");

  m = error_of(json::parse(R"({"layout": {"tpp": 2}})"));
  EXPECT_MESSAGE(m, "unknown key 'layout.tpp': the keys of layout are dp, pp, tp, order");
  EXPECT_MESSAGE(m, "did you mean 'layout.tp'");

  EXPECT_MESSAGE(error_of(json::parse(R"({"model": {"preset": "mini", "hiden": 64}})")), "unknown key 'model.hiden'");
  EXPECT_MESSAGE(set_error({"layout.tpp=2"}), "unknown key 'layout.tpp'");
  EXPECT_MESSAGE(set_error({"lr=1"}), "unknown key 'lr'");
  EXPECT_MESSAGE(set_error({"optimizer.lr.x=1"}), "optimizer.lr is a value");
  EXPECT_MESSAGE(set_error({"layout={\"tpp\": 1}"}), "unknown key 'layout.tpp'");
  EXPECT_MESSAGE(set_error({"layout.tp"}), "is not key.path=value");
}

TEST(TrainConfigErrors, RenamedKeysNameTheirSuccessor) {
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": {"layers_per_stage": [2, 2]}})")),
                 "'layout.layers_per_stage' was renamed to 'layout.layers_per_chunk'");
  EXPECT_MESSAGE(set_error({"layout.layers_per_stage=[2,2]"}), "use layout.layers_per_chunk");
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": {"zero1": true}})")), "'layout.zero1' was renamed to 'layout.zero'");
  EXPECT_MESSAGE(set_error({"layout.zero1=true"}), "use layout.zero");
  EXPECT_MESSAGE(set_error({"layout.zero=4"}), "layout.zero is 4: use a ZeRO stage");
}

TEST(TrainConfigErrors, WrongTypes) {
  std::string m = error_of(json::parse(R"({"layout": {"tp": "2"}})"));
  EXPECT_MESSAGE(m, "layout.tp has the wrong type: found string \"2\", wanted an integer");
  EXPECT_MESSAGE(error_of(json::parse(R"({"steps": 2.5})")), "steps has the wrong type: found number 2.5");
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": 3})")), "layout has the wrong type");
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": {"sequence_parallel": 1}})")), "layout.sequence_parallel");
  EXPECT_MESSAGE(error_of(json::parse(R"({"optimizer": {"lr": "fast"}})")), "optimizer.lr");
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": {"layers_per_chunk": [2, "2"]}})")),
                 "layout.layers_per_chunk[1]");
  EXPECT_MESSAGE(error_of(json::parse(R"({"data": {"seed": -1}})")), "data.seed");
  EXPECT_MESSAGE(error_of(json::parse(R"({"layout": {"dp": 3000000000}})")), "layout.dp");
  EXPECT_MESSAGE(error_of(json::array()), "the config has the wrong type");
}

TEST(TrainConfigErrors, HeadsNotDivisibleByTp) {
  const std::string m = set_error({"model.hidden=384", "model.heads=6", "layout.tp=4"});
  EXPECT_MESSAGE(m, "model.heads 6 is not divisible by layout.tp 4");
  EXPECT_MESSAGE(m, "1, 2, 3, 6");
}

TEST(TrainConfigErrors, ScheduleRules) {
  std::string m = set_error({"layout.schedule=interleaved", "layout.pp=4", "layout.micro_batches=6", "model.layers=8"});
  EXPECT_MESSAGE(m, "layout.micro_batches: ");
  EXPECT_MESSAGE(m, "not a multiple of pp=4");
  EXPECT_MESSAGE(set_error({"layout.schedule=interleaved", "layout.v=1"}), "layout.v is 1 but interleaved");
  EXPECT_MESSAGE(set_error({"layout.schedule=zb-v", "layout.v=3", "model.layers=12"}), "layout.v is 3 but zb-v");
  EXPECT_MESSAGE(set_error({"layout.schedule=pipedream"}), "layout.schedule 'pipedream' is not a schedule");
  EXPECT_NO_THROW(parse_train_config(json::object(), {"layout.schedule=zb-v"}));  // pp 2 × v 2 = 4 chunks, 4 layers
  EXPECT_NO_THROW(parse_train_config(json::object(), {"layout.schedule=interleaved"}));
}

TEST(TrainConfigErrors, LayersAndChunks) {
  std::string m = set_error({"layout.schedule=interleaved", "model.layers=3"});
  EXPECT_MESSAGE(m, "model.layers 3 is fewer than the 4 pipeline chunks");
  EXPECT_MESSAGE(m, "at least one transformer block");
  EXPECT_MESSAGE(set_error({"layout.pp=1", "layout.tp=1", "model.layers=1", "layout.schedule=zb-v"}),
                 "model.layers 1 is fewer than the 2 pipeline chunks");
  EXPECT_MESSAGE(set_error({"layout.layers_per_chunk=[2,2,0]"}), "layout.layers_per_chunk has 3 entries");
  EXPECT_MESSAGE(set_error({"layout.layers_per_chunk=[1,2]"}), "layout.layers_per_chunk sums to 3");
  EXPECT_MESSAGE(set_error({"layout.layers_per_chunk=[5,-1]"}), "layout.layers_per_chunk[1] is -1");
  EXPECT_NO_THROW(parse_train_config(json::object(), {"layout.layers_per_chunk=[3,1]"}));
}

TEST(TrainConfigErrors, ScheduleFile) {
  TempDir dir;
  one_f_one_b(2, 4).save(dir.file("ok.txt"));
  one_f_one_b(4, 4).save(dir.file("pp4.txt"));
  one_f_one_b(2, 8).save(dir.file("m8.txt"));
  write_text(dir.file("junk.txt"), "not a schedule\n");
  EXPECT_NO_THROW(parse_train_config(json::object(), {"layout.schedule_file=" + dir.file("ok.txt")}));
  EXPECT_MESSAGE(set_error({"layout.schedule_file=" + dir.file("pp4.txt")}), "is for pp=4 but layout.pp is 2");
  EXPECT_MESSAGE(set_error({"layout.schedule_file=" + dir.file("m8.txt")}), "but layout.micro_batches is 4");
  EXPECT_MESSAGE(set_error({"layout.schedule_file=" + dir.file("junk.txt")}), "layout.schedule_file: ");
  EXPECT_MESSAGE(set_error({"layout.schedule_file=" + dir.file("none.txt")}), "does not exist");
}

TEST(TrainConfigErrors, FilesAndDirectories) {
  TempDir dir;
  EXPECT_MESSAGE(set_error({"data.train=" + dir.file("missing.bin")}), "data.train '");
  EXPECT_MESSAGE(set_error({"data.val=" + dir.file("missing.bin")}), "data.val '");
  EXPECT_MESSAGE(set_error({"data.train=" + dir.path().string()}), "is not a file");
  EXPECT_MESSAGE(set_error({"resume=" + dir.file("ckpt")}), "resume '");
  write_text(dir.file("tokens.bin"), "x");
  fs::create_directories(dir.file("ckpt"));
  EXPECT_NO_THROW(
      parse_train_config(json::object(), {"data.train=" + dir.file("tokens.bin"), "resume=" + dir.file("ckpt")}));
}

TEST(TrainConfigErrors, BadValues) {
  EXPECT_MESSAGE(set_error({"layout.recompute=some"}), "layout.recompute: unknown recompute mode 'some'");
  EXPECT_MESSAGE(set_error({"device=gpu"}), "device: unknown device 'gpu'");
  EXPECT_MESSAGE(set_error({"device=cuda:x"}), "device: ");
  EXPECT_MESSAGE(set_error({"layout.order=tp-dp"}), "layout.order: ");
  EXPECT_MESSAGE(set_error({"optimizer.lr=-1e-3"}), "optimizer.lr is -0.001");
  EXPECT_MESSAGE(set_error({"optimizer.min_lr=1"}), "optimizer.min_lr");
  EXPECT_MESSAGE(set_error({"optimizer.beta1=1"}), "optimizer.beta1");
  EXPECT_MESSAGE(set_error({"optimizer.beta2=-0.1"}), "optimizer.beta2");
  EXPECT_MESSAGE(set_error({"optimizer.eps=0"}), "optimizer.eps");
  EXPECT_MESSAGE(set_error({"optimizer.weight_decay=-1"}), "optimizer.weight_decay");
  EXPECT_MESSAGE(set_error({"optimizer.grad_clip=-1"}), "optimizer.grad_clip");
  EXPECT_MESSAGE(set_error({"optimizer.warmup_steps=-1"}), "optimizer.warmup_steps");
  EXPECT_MESSAGE(set_error({"steps=0"}), "steps is 0");
  EXPECT_MESSAGE(set_error({"eval_interval=-1"}), "eval_interval");
  EXPECT_MESSAGE(set_error({"checkpoint_interval=-1"}), "checkpoint_interval");
  EXPECT_MESSAGE(set_error({"layout.bucket_mb=0"}), "layout.bucket_mb");
  EXPECT_MESSAGE(set_error({"layout.micro_batch_size=0"}), "layout.micro_batch_size");
  EXPECT_MESSAGE(set_error({"layout.dp=0"}), "layout.dp is 0");
  EXPECT_MESSAGE(set_error({"model.hidden=130"}), "model.hidden");
  EXPECT_MESSAGE(set_error({"peak_flops=-1"}), "peak_flops");
  EXPECT_MESSAGE(set_error({"model.seq_len=127", "layout.micro_batch_size=1", "layout.sequence_parallel=true"}),
                 "layout.sequence_parallel");
  EXPECT_NO_THROW(parse_train_config(json::object(), {"model.seq_len=127", "layout.micro_batch_size=2",
                                                      "layout.sequence_parallel=true"}));
}

// ---- metrics files ------------------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Metrics, WriterAppendsWholeLines) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  {
    MetricsWriter w(path, /*append=*/false);
    w.write({{"step", 1}, {"loss", 5.5}, {"comm_s", {{"tp", 0.1}}}});
    w.write({{"step", 2}, {"loss", std::nan("")}, {"skipped", true}});
  }
  {
    MetricsWriter w(path, /*append=*/true);
    w.write({{"step", 3}, {"loss", 4.5}});
  }
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& line : lines) EXPECT_TRUE(json::accept(line)) << line;
  const auto records = read_metrics(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["comm_s"]["tp"], 0.1);
  EXPECT_TRUE(records[1]["loss"].is_null());  // NaN has no JSON form
  EXPECT_EQ(records[2]["step"], 3);

  // A fresh run truncates.
  { MetricsWriter(path, /*append=*/false).write({{"step", 1}}); }
  EXPECT_EQ(read_metrics(path).size(), 1u);
}

TEST(Metrics, AppendDropsATornLastLine) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_text(path, "{\"step\": 1}\n{\"step\": 2, \"lo");
  EXPECT_EQ(read_metrics(path).size(), 1u);  // the reader skips it
  { MetricsWriter(path, /*append=*/true).write({{"step", 2}}); }
  EXPECT_EQ(lines_of(path), (std::vector<std::string>{"{\"step\": 1}", "{\"step\":2}"}));

  write_text(path, "{\"step\": 1}\nnot json\n{\"step\": 3}\n");
  EXPECT_THROW(read_metrics(path), Error);  // damage in the middle is not a torn write
}

TEST(Metrics, WriteJsonAtomicLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("config.json");
  write_json_atomic(path, {{"a", 1}});
  write_json_atomic(path, {{"a", 2}, {"b", {1, 2}}});
  std::ifstream in(path);
  EXPECT_EQ(json::parse(in), (json{{"a", 2}, {"b", {1, 2}}}));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"config.json"});
  EXPECT_THROW(write_json_atomic(dir.file("no/such/dir/x.json"), json::object()), Error);
}

TEST(Metrics, SummaryTableShowsTheFinalNumbers) {
  std::vector<json> records;
  for (int step = 1; step <= 4; ++step) {
    json r = {{"step", step},
              {"loss", 3.0 - 0.25 * step},
              {"grad_norm", 1.0},
              {"lr", 1e-3},
              {"skipped", step == 2},
              {"step_time_s", step == 1 ? 10.0 : 0.25},
              {"tokens_per_s", step == 1 ? 1.0 : 16384.0},
              {"tflops_per_rank", 0.0123},
              {"mfu", 0.1234},
              {"bubble_s", 0.05},
              {"bubble_frac", 0.2},
              {"comm_s", {{"tp", 0.01}, {"pp", 0.02}, {"dp", 0.03}, {"embedding", 0.001}}},
              {"peak_mem_bytes", {{"min", 100 * 1048576.0}, {"max", 150 * 1048576.0}}}};
    if (step % 2 == 0) r["val_loss"] = 2.0 + step;
    records.push_back(r);
  }
  records.back()["loss"] = 1.2345;
  const std::string table = summary_table(records);
  EXPECT_MESSAGE(table, "1.2345");            // final loss
  EXPECT_MESSAGE(table, "6.0000 (step 4)");   // final val loss
  EXPECT_MESSAGE(table, "12.34 %");           // MFU
  EXPECT_MESSAGE(table, "250.0 ms");          // first step left out
  EXPECT_MESSAGE(table, "16384");             // tokens/s without the warm-up step
  EXPECT_MESSAGE(table, "20.0 %");            // bubble
  EXPECT_MESSAGE(table, "30.00 ms");          // dp communication per step
  EXPECT_MESSAGE(table, "4 (1 skipped)");
  EXPECT_MESSAGE(table, "150.0 MiB");
  EXPECT_MESSAGE(summary_table({}), "no steps");
  EXPECT_MESSAGE(summary_table({json{{"step", 1}, {"loss", 2.5}}}), "2.5000");
}

}  // namespace
}  // namespace trident
