// The pieces of issue 14's input checks that need no ranks: JSON read with a depth limit and
// pointer-named errors, the first difference between two documents (what ranks that disagree are
// told), a checkpoint manifest's range checks, and resume=auto's choice of checkpoint. The end-to-end
// behaviour (exit codes, messages, untouched files, real ranks) is tests/faults/*.sh.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "experiments/plan/json_file.h"
#include "experiments/train/checkpoint_files.h"
#include "experiments/train/run_inputs.h"
#include "temp_dir_test.h"

namespace trident {
namespace {

using json = nlohmann::json;

// The message of what `f` throws (empty if it does not throw a trident::Error).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return message_of(e);
  }
  return "";
}

#define EXPECT_ERROR(call, needle) EXPECT_NE(error_of([&] { (void)(call); }).find(needle), std::string::npos) \
  << "message: " << error_of([&] { (void)(call); })

TEST(JsonFile, DepthIsLimitedBeforeAnythingRecursesOnTheValue) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_ERROR(parse_json(deep, "f.json"), "f.json nests values deeper than 64 levels (at /0/0/0");
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW((void)parse_json(ok, "f.json"));
  EXPECT_ERROR(parse_json_if_valid(deep, "override 'x'"), "override 'x' nests values deeper");
  EXPECT_FALSE(parse_json_if_valid("runs/a", "override 'x'").has_value());
  EXPECT_EQ(*parse_json_if_valid("[1, 2]", "override 'x'"), json({1, 2}));
}

TEST(JsonFile, SyntaxErrorsNameTheFieldAsAPointer) {
  EXPECT_ERROR(parse_json(R"({"optimizer": {"warmup_steps": 2, "lr": 1e400}})", "c.json"),
               "c.json is not valid JSON at /optimizer/lr: number overflow");
  EXPECT_ERROR(parse_json(R"({"a": [1, 2, {"b": tru}]})", "c.json"), "c.json is not valid JSON at /a/2/b:");
  EXPECT_ERROR(parse_json(R"({"a/b": {"~c": x}})", "c.json"), "at /a~1b/~0c:");  // RFC 6901 escapes
  EXPECT_EQ(json_pointer_of("layout.layers_per_chunk[2]"), "/layout/layers_per_chunk/2");
}

class JsonFileOnDisk : public testing_util::TempDirTest {};

TEST_F(JsonFileOnDisk, DirectoriesAndMissingFilesAreSaidToBeSo) {
  EXPECT_ERROR(read_json_file(dir_.string(), "config file"), "is a directory: give the path of a JSON file");
  EXPECT_ERROR(read_json_file(file("none.json"), "config file"), "none.json' does not exist");
  std::ofstream(file("c.json")) << "{\"a\": 1} // comment\n";
  EXPECT_EQ(read_json_file(file("c.json"), "config file", /*comments=*/true)["a"], 1);
}

TEST(JsonFile, FirstDifferenceIsDepthFirstInTheFirstDocumentsOrder) {
  const json a = json::parse(R"({"model": {"layers": 4}, "layout": {"pp": 2, "tp": 2}, "steps": 10})");
  json b = a;
  b["layout"]["tp"] = 4;
  b["steps"] = 20;
  const JsonDifference d = first_difference(a, b);
  EXPECT_FALSE(d.equal);
  EXPECT_EQ(d.pointer, "/layout/tp");
  EXPECT_EQ(d.a_value, "2");
  EXPECT_EQ(d.b_value, "4");
  EXPECT_TRUE(first_difference(a, a).equal);
  json c = a;
  c["extra"] = true;
  EXPECT_EQ(first_difference(a, c).pointer, "/extra");
  EXPECT_EQ(first_difference(a, c).a_value, "\"(absent)\"");
}

TEST(JsonFile, FieldsCheckPresenceTypeAndRange) {
  const json m = json::parse(R"({"step": -3, "big": 18446744073709551615, "name": 5, "zero": 0, "sub": {"x": "y"}})");
  const JsonFields f(m, "ck (trainer.json)", "use another checkpoint");
  EXPECT_ERROR(f.integer("step", 0, 100), "ck (trainer.json): /step is -3: it must be an integer in [0, 100]; use another");
  EXPECT_ERROR(f.integer("big", 0, 100), "/big is 18446744073709551615");
  EXPECT_ERROR(f.integer("zero", 1, 100), "/zero is 0: it must be an integer in [1, 100]");
  EXPECT_ERROR(f.string("name"), "/name is 5: it must be a string");
  EXPECT_ERROR(f.at("missing"), "/missing is missing");
  EXPECT_ERROR(f.object("sub").integer("x", 0, 1), "/sub/x is \"y\"");
  EXPECT_ERROR(f.number("name", 0, 1), "/name is 5: it must be a number in [0, 1]");
}

json manifest() {
  return {{"format", kCheckpointFormat},
          {"step", 4},
          {"optimizer_steps", 4},
          {"samples_consumed", 64},
          {"data_seed", 1234},
          {"model", {{"layers", 2}, {"hidden", 32}, {"heads", 4}, {"seq_len", 16}, {"vocab", 257}}},
          {"files", {{"model-pp0.safetensors", {{"bytes", 10}, {"crc32", 7}}}}}};
}

TEST(CheckpointManifest, EveryFieldIsRangeChecked) {
  EXPECT_EQ(parse_checkpoint_manifest(manifest(), "ck").step, 4);
  auto broken = [](const char* pointer, const json& value) {
    json m = manifest();
    m[json::json_pointer(pointer)] = value;
    return error_of([&] { (void)parse_checkpoint_manifest(m, "ck"); });
  };
  EXPECT_NE(broken("/step", -1).find("/step is -1"), std::string::npos);
  EXPECT_NE(broken("/optimizer_steps", 5).find("/optimizer_steps is 5: it must be an integer in [0, 4]"),
            std::string::npos);
  EXPECT_NE(broken("/samples_consumed", "64").find("/samples_consumed is \"64\""), std::string::npos);
  EXPECT_NE(broken("/model/hidden", 0).find("/model/hidden is 0"), std::string::npos);
  EXPECT_NE(broken("/format", "other").find("/format is 'other'"), std::string::npos);
  EXPECT_NE(broken("/files/..~1x", json{{"bytes", 1}, {"crc32", 1}}).find("/files/..~1x is not a plain file name"),
            std::string::npos);
  EXPECT_NE(broken("/files/model-pp0.safetensors/crc32", 1ll << 33).find("/files/model-pp0.safetensors/crc32 is"),
            std::string::npos);
  json weights_only = manifest();
  weights_only.erase("samples_consumed");
  EXPECT_NO_THROW((void)parse_checkpoint_manifest(weights_only, "ck", /*training_state=*/false));
  EXPECT_ERROR(parse_checkpoint_manifest(weights_only, "ck"), "/samples_consumed is missing");
}

class ResumeAuto : public testing_util::TempDirTest {};

TEST_F(ResumeAuto, ChoosesTheNewestCompleteCheckpoint) {
  namespace fs = std::filesystem;
  EXPECT_EQ(newest_checkpoint(dir_.string()), "");  // no checkpoints folder: start from scratch
  auto make = [&](const std::string& name, bool complete) {
    fs::create_directories(dir_ / "checkpoints" / name);
    if (complete) std::ofstream(dir_ / "checkpoints" / name / "trainer.json") << "{}";
  };
  make("step_4", true);
  make("step_10", true);   // numeric order, not text order: 10 > 9
  make("step_9", true);
  make("step_12.tmp", true);  // an interrupted save, even with its manifest written
  make("step_11", false);     // no manifest: not a complete checkpoint
  make("step_x", true);
  EXPECT_EQ(newest_checkpoint(dir_.string()), (dir_ / "checkpoints" / "step_10").string());
}

TEST(HostMemory, IsKnownOnLinux) {
  EXPECT_GT(host_memory_available(), 0);
  EXPECT_EQ(ranks_on_this_node(3) >= 1, true);
}

}  // namespace
}  // namespace trident
