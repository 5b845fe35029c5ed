// Sweep specs, expansion and results files, without running anything: malformed specs are errors
// naming the field; grid × zip × filter give the expected points in order; hashes are stable and
// resume keys; the CSV is whole and quoted; filters evaluate like Python.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "experiments/sweeps/filter.h"
#include "experiments/sweeps/results.h"
#include "experiments/sweeps/sweep_points.h"
#include "experiments/sweeps/sweep_spec.h"
#include "temp_dir_test.h"

namespace trident {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

SweepSpec spec_of(const std::string& text) { return parse_sweep_spec(ojson::parse(text), "spec.json"); }

// The message of the error parsing `text` throws ("" when it parses).
std::string spec_error(const std::string& text) {
  try {
    (void)spec_of(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SweepSpec, MalformedSpecsNameTheField) {
  const std::string base = R"("base": {"model": {"layers": 2}}, )";
  EXPECT_NE(spec_error(R"({"gird": {"layout.dp": [1]}})").find("unknown key 'gird'"), std::string::npos);
  EXPECT_NE(spec_error(R"({"base": {}})").find("no grid"), std::string::npos);
  EXPECT_NE(spec_error("{" + base + R"("grid": {}})").find("grid is empty"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.dp": []}})").find("grid.layout.dp is empty"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.dp": 2}})").find("grid.layout.dp has the wrong type"), std::string::npos);
  const std::string wrong = spec_error(R"({"grid": {"layout.dp": [1, "two"]}})");
  EXPECT_NE(wrong.find("grid.layout.dp[1] has the wrong type"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("wanted an integer"), std::string::npos) << wrong;
  EXPECT_NE(spec_error(R"({"grid": {"layout.dpp": [1]}})").find("'layout.dpp' is not a config key"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout": [1]}})").find("'layout' is not a config key"), std::string::npos);
  EXPECT_NE(spec_error(R"({"base": {"layout": {"tp": "2"}}, "grid": {"steps": [1]}})").find("base.layout.tp has the wrong type"),
            std::string::npos);
  EXPECT_NE(spec_error(R"({"base": {"out_dir": "x"}, "grid": {"steps": [1]}})").find("base.out_dir"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"optimizer.lr": [1e-3, 1e-3]}})").find("repeats its values at positions 0 and 1"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1, 2], "model.layers": [2]}, "zip": [["layout.pp", "model.layers"]]})")
                .find("zip[0]: grid.layout.pp has 2 values but grid.model.layers has 1"),
            std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "zip": [["layout.tp"]]})").find("'layout.tp' is not a key of grid"),
            std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "filter": ["layout.ppp == 1"]})").find("unknown name 'layout.ppp'"),
            std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "filter": ["layout.pp =="]})").find("filter[0]"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "plots": ["gantt"]})").find("plots[0] 'gantt' is not a plot"),
            std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "timeout_s": -1})").find("timeout_s"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "launcher": "k8s"})").find("launcher 'k8s'"), std::string::npos);
  EXPECT_NE(spec_error(R"({"grid": {"layout.pp": [1]}, "slurm": {"queue": "x"}})").find("unknown key 'slurm.queue'"),
            std::string::npos);
  // Every message starts with the spec's name.
  EXPECT_NE(spec_error(R"({"grid": {}})").find("sweep spec 'spec.json'"), std::string::npos);
  // Types follow the config: floats take integers, strings take strings, model.preset is known.
  EXPECT_EQ(spec_error(R"({"grid": {"optimizer.lr": [1, 2e-3], "model.preset": ["mini"], "layout.sequence_parallel": [true]}})"), "");
  EXPECT_NE(spec_error(R"({"grid": {"layout.sequence_parallel": [1]}})").find("wanted a boolean"), std::string::npos);
}

TEST(SweepSpec, GridZipAndFilterExpandInOrder) {
  const SweepSpec s = spec_of(R"json({
    "base": {"model": {"layers": 4, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"dp": 1, "tp": 1}},
    "grid": {"layout.schedule": ["gpipe", "1f1b"], "layout.pp": [1, 2, 4], "layout.micro_batches": [1, 2, 4]},
    "zip": [["layout.pp", "layout.micro_batches"]],
    "filter": ["world_size > 1", "not (layout.schedule == 'gpipe' and layout.pp == 4)"]
  })json");
  ASSERT_EQ(s.axes.size(), 2u);
  EXPECT_EQ(s.product_size(), 6u);
  const auto points = expand_sweep(s, "/tmp/sweep");
  ASSERT_EQ(points.size(), 3u);  // gpipe pp2, 1f1b pp2, 1f1b pp4
  EXPECT_EQ(points[0].label, "schedule=gpipe pp=2 micro_batches=2");
  EXPECT_EQ(points[1].label, "schedule=1f1b pp=2 micro_batches=2");
  EXPECT_EQ(points[2].label, "schedule=1f1b pp=4 micro_batches=4");
  EXPECT_EQ(points[2].world_size, 4);
  for (const SweepPoint& p : points) {
    ASSERT_TRUE(p.plan.has_value()) << p.error;
    EXPECT_EQ(p.plan->out_dir, p.dir);
    EXPECT_EQ(p.hash.size(), 16u);
    EXPECT_EQ(p.dir.rfind("/tmp/sweep/", 0), 0u);
    EXPECT_NE(p.dir.find(p.hash.substr(0, 8)), std::string::npos);
    EXPECT_FALSE(p.config_json.contains("out_dir"));
  }
  // The hash is a property of the config: the same point under another output folder or spec order
  // has the same hash (resume keys on it).
  const auto again = expand_sweep(spec_of(R"({
    "base": {"model": {"layers": 4, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"dp": 1, "tp": 1, "micro_batches": 4}},
    "grid": {"layout.pp": [4], "layout.schedule": ["1f1b"]}})"), "/elsewhere");
  EXPECT_EQ(again[0].hash, points[2].hash);
}

TEST(SweepSpec, PointsThatDoNotResolveAreKeptWithTheirError) {
  const auto points = expand_sweep(spec_of(R"({
    "base": {"model": {"layers": 2, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"dp": 1, "pp": 1}},
    "grid": {"layout.tp": [1, 2, 3]}})"), "/tmp/s");
  ASSERT_EQ(points.size(), 3u);
  EXPECT_TRUE(points[0].plan && points[1].plan);
  EXPECT_FALSE(points[2].plan);
  EXPECT_NE(points[2].error.find("model.heads 2 is not divisible by layout.tp 3"), std::string::npos) << points[2].error;
  EXPECT_EQ(points[2].world_size, 3);
  EXPECT_NE(points[2].hash, points[1].hash);
}

TEST(SweepSpec, TagsLabelPointsAndKeepIdenticalConfigsApart) {
  const auto points = expand_sweep(spec_of(R"({
    "base": {"model": {"layers": 2, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"pp": 1, "tp": 1}},
    "grid": {"tag.scaling": ["strong", "strong", "weak", "weak"], "layout.dp": [1, 2, 1, 2],
             "layout.micro_batches": [4, 2, 2, 2]},
    "zip": [["tag.scaling", "layout.dp", "layout.micro_batches"]]})"), "/tmp/s");
  // tag.scaling repeats a value in its list: zip axes may, a plain grid key may not.
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].tags.value("tag.scaling", ""), "strong");
  EXPECT_EQ(points[3].world_size, 2);
  EXPECT_NE(points[1].hash, points[3].hash);  // dp2 mb2 under both tags: one run each
}

TEST(SweepFilter, EvaluatesLikePython) {
  auto known = [](const std::string& n) { return n == "a" || n == "s"; };
  auto eval = [&](const std::string& text) {
    return Filter::parse(text, "filter[0]", known).holds([](const std::string& n) {
      return n == "a" ? json(7) : json("zb-v");
    });
  };
  EXPECT_TRUE(eval("a % 4 == 3 and -a % 4 == 1"));
  EXPECT_TRUE(eval("a / 2 == 3.5"));
  EXPECT_TRUE(eval("s in ['zb-v', '1f1b'] or a > 100"));
  EXPECT_FALSE(eval("not s == \"zb-v\""));
  EXPECT_TRUE(eval("(a + 1) * 2 >= 16"));
  try {
    (void)eval("s < 3");
    FAIL() << "a string compared with a number must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("filter[0]"), std::string::npos);
  }
  try {
    (void)eval("a + 1");
    FAIL() << "a non-boolean filter must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not true or false"), std::string::npos);
  }
}

TEST(SweepResultsCsv, QuotesCellsAndJoinsArrays) {
  ojson a, b;
  a["point"] = 0;
  a["error"] = "bad, \"quoted\"\nline";
  a["per_stage"] = json::array({1, 2, 3});
  b["point"] = 1;
  b["extra"] = 2.5;
  b["missing"] = nullptr;
  EXPECT_EQ(to_csv({a, b}), "point,error,per_stage,extra,missing\n0,\"bad, \"\"quoted\"\"\nline\",1;2;3,,\n1,,,2.5,\n");
}

class SweepResultsFiles : public testing_util::TempDirTest {};

TEST_F(SweepResultsFiles, LatestRecordPerPointAndResume) {
  const auto points = expand_sweep(spec_of(R"({
    "base": {"model": {"layers": 2, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"dp": 1, "pp": 1}},
    "grid": {"layout.tp": [1, 2]}})"), dir_.string());
  {
    SweepResults r(dir_.string());
    r.add(result_row(points[1], {"failed", "boom", 1, 0.5}), points);
    r.add(result_row(points[1], {"ok", "", 0, 1.5}), points);  // no summary.json: aggregates null
  }
  SweepResults again(dir_.string());
  EXPECT_TRUE(again.complete(points[1].hash));
  EXPECT_FALSE(again.complete(points[0].hash));
  std::ifstream csv(again.csv_path());
  std::string header, row, extra;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_FALSE(std::getline(csv, extra));  // one row: the latest record of the one point run
  EXPECT_EQ(header.rfind("point,label,hash,model.", 0), 0u) << header;
  EXPECT_NE(header.find(",layout.tp,"), std::string::npos);
  EXPECT_NE(header.find(",world_size,steps_run,"), std::string::npos);
  EXPECT_NE(header.find(",status,error,exit_code,wall_s,dir"), std::string::npos);
  EXPECT_NE(row.find(",ok,,0,1.5,"), std::string::npos) << row;
}

// A row maps summary.json's aggregates and the simulator's sim.json onto their columns: per-stage
// peaks measured and simulated side by side, the simulator's per stage the largest over its ranks.
TEST_F(SweepResultsFiles, RowHoldsTheRunsAggregatesAndTheSimulatorsPrediction) {
  const auto points = expand_sweep(spec_of(R"({
    "base": {"model": {"layers": 2, "hidden": 32, "heads": 2, "seq_len": 16}, "layout": {"dp": 2, "tp": 1}},
    "grid": {"layout.pp": [2]}})"), dir_.string());
  const SweepPoint& p = points[0];
  std::filesystem::create_directories(p.dir);
  std::ofstream(std::filesystem::path(p.dir) / "summary.json")
      << R"({"steps": 4, "step_time_s": {"median": 0.02, "p10": 0.01, "p90": 0.03, "mean": 0.025},
             "tokens_per_s": 1000, "peak_mem_bytes": {"min": 5, "max": 7, "per_stage": [7, 5]}})";
  std::ofstream(std::filesystem::path(p.dir) / "sim.json")
      << R"({"cluster": "cpu", "step_time_s": 0.018, "bubble_frac": 0.2, "peak_memory_bytes": 8,
             "stages": [{"stage": 0, "rank": 0, "peak_memory_bytes": 6}, {"stage": 1, "rank": 1, "peak_memory_bytes": 5},
                        {"stage": 0, "rank": 2, "peak_memory_bytes": 8}, {"stage": 1, "rank": 3, "peak_memory_bytes": 4}]})";
  const ojson row = result_row(p, {"ok", "", 0, 2.0});
  EXPECT_EQ(row.at("step_time_median_s"), 0.02);
  EXPECT_EQ(row.at("tokens_per_s"), 1000);
  EXPECT_EQ(row.at("peak_mem_per_stage_bytes"), ojson::parse("[7, 5]"));
  EXPECT_EQ(row.at("sim_cluster"), "cpu");
  EXPECT_EQ(row.at("sim_step_time_s"), 0.018);
  EXPECT_EQ(row.at("sim_peak_mem_max_bytes"), 8);
  EXPECT_EQ(row.at("sim_peak_mem_per_stage_bytes"), ojson::parse("[8, 5]"));
  EXPECT_TRUE(row.at("sim_mfu").is_null());  // absent in sim.json: an empty cell, not a made-up value
  const ojson failed = result_row(p, {"failed", "boom", 1, 1.0});
  EXPECT_TRUE(failed.at("tokens_per_s").is_null());  // a failed run's stale summary is not read
}

}  // namespace
}  // namespace trident
