// `trident train --config FILE.json [--set key.path=value …]`: one 3D-parallel experiment.
//
// Everything is validated before any rank starts work (the config, the data files, a checkpoint to
// resume from). Rank 0 prints a progress line per step; every step appends a record to
// <out_dir>/metrics.jsonl; the resolved config goes to <out_dir>/config.json; at the end a summary
// table, <out_dir>/summary.json and one merged Chrome trace of the last step (<out_dir>/trace.json,
// pid = world rank; tids: compute, pp comm, dp comm) that opens in Perfetto.
#include <cstdio>
#include <filesystem>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include "experiments/train/checkpoint_files.h"
#include "experiments/cli/cli.h"
#include "experiments/data/default_corpus.h"
#include "experiments/data/token_file.h"
#include "experiments/train/metrics.h"
#include "experiments/train/trainer.h"
#include "schedules/timeline.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

namespace {

struct TrainJob {
  TrainConfig config;
  std::string train_path, val_path;
};

// Every rank's trace events, gathered to rank 0 as JSON text carried in i32 tensors.
std::vector<TraceEvent> gather_trace(Communicator& world, const std::vector<TraceEvent>& mine) {
  const std::string text = chrome_trace_json(mine);
  Tensor len = Tensor::empty({world.size()}, DType::kI32);
  Tensor my_len = Tensor::empty({1}, DType::kI32);
  my_len.data<std::int32_t>()[0] = static_cast<std::int32_t>(text.size());
  world.all_gather(my_len, len);
  auto pack = [](const std::string& s) {
    Tensor t = Tensor::zeros({static_cast<std::int64_t>((s.size() + 3) / 4)}, DType::kI32);
    std::memcpy(t.raw(), s.data(), s.size());
    return t;
  };
  std::vector<TraceEvent> all;
  if (world.rank() != 0) {
    if (!text.empty()) world.send(pack(text), 0, 7).wait();
    return all;
  }
  for (int r = 0; r < world.size(); ++r) {
    const std::size_t n = static_cast<std::size_t>(len.data<std::int32_t>()[r]);
    std::string s = text;
    if (r != 0) {
      Tensor buf = Tensor::empty({static_cast<std::int64_t>((n + 3) / 4)}, DType::kI32);
      if (n > 0) world.recv(buf, r, 7).wait();
      s.assign(static_cast<const char*>(buf.raw()), n);
    }
    // The parsed document must outlive the loop (a range-for over a temporary's member dangles).
    const nlohmann::json doc = nlohmann::json::parse(s);
    for (const auto& e : doc.at("traceEvents")) {
      if (e.at("ph").get<std::string>() != "X") continue;
      TraceEvent ev{e.at("name"), e.at("cat"), e.at("pid"), e.at("tid"), e.at("ts"), e.at("dur"), {}};
      all.push_back(ev);
    }
  }
  return all;
}

std::string progress_line(const nlohmann::json& r, int steps) {
  char line[256];
  auto num = [&](const char* k) { return r[k].is_number() ? r[k].get<double>() : std::nan(""); };
  std::snprintf(line, sizeof line,
                "step %4lld/%d | loss %.4f%s | lr %.2e | %7.1f ms | %8.0f tok/s | MFU %5.2f%% | bubble %4.1f%%%s\n",
                static_cast<long long>(r["step"].get<std::int64_t>()), steps, num("loss"),
                r.contains("val_loss") ? (" | val " + std::to_string(num("val_loss")).substr(0, 6)).c_str() : "",
                num("lr"), 1e3 * num("step_time_s"), num("tokens_per_s"), 100.0 * num("mfu"),
                100.0 * num("bubble_frac"), r["skipped"].get<bool>() ? " | SKIPPED (non-finite)" : "");
  return line;
}

int run_training(const TrainJob& job, Communicator& world) {
  const TrainConfig& c = job.config;
  if (world.rank() == 0) {
    fs::create_directories(c.out_dir);
    write_json_atomic((fs::path(c.out_dir) / "config.json").string(), to_json(c));
  }
  world.barrier();
  Trainer trainer(c, world, job.train_path, job.val_path);
  if (!c.resume.empty()) {
    trainer.load_checkpoint(c.resume);
    print0(world, "resumed from " + c.resume + " at step " + std::to_string(trainer.step()) + "\n");
  }
  const std::string metrics_path = (fs::path(c.out_dir) / "metrics.jsonl").string();
  std::optional<MetricsWriter> metrics;
  if (world.rank() == 0) metrics.emplace(metrics_path, !c.resume.empty());
  print0(world, "trident train: " + std::to_string(world.size()) + " ranks, dp=" + std::to_string(c.layout.dp) +
                    " pp=" + std::to_string(c.layout.pp) + " tp=" + std::to_string(c.layout.tp) + ", schedule " +
                    (c.layout.schedule_file.empty() ? c.layout.schedule : c.layout.schedule_file) + ", " +
                    std::to_string(c.steps) + " steps\n");
  while (trainer.step() < c.steps) {
    nlohmann::json rec = trainer.train_step();
    const std::int64_t s = trainer.step();
    if (c.eval_interval > 0 && (s % c.eval_interval == 0 || s == c.steps)) rec["val_loss"] = trainer.evaluate();
    if (world.rank() == 0) {
      metrics->write(rec);
      if (s % std::max(1, c.log_interval) == 0 || s == c.steps) print0(world, progress_line(rec, c.steps));
    }
    if (c.checkpoint_interval > 0 && (s % c.checkpoint_interval == 0 || s == c.steps)) {
      const std::string dir = (fs::path(c.out_dir) / "checkpoints" / ("step_" + std::to_string(s))).string();
      trainer.save_checkpoint(dir);
      print0(world, "checkpoint " + dir + "\n");
    }
  }
  const std::vector<TraceEvent> events = gather_trace(world, trainer.last_step_trace());
  if (world.rank() == 0) {
    TraceNames names;
    const MeshLayout& l = trainer.mesh().layout();
    for (int r = 0; r < world.size(); ++r) {
      const MeshCoord m = l.coord(r);
      names.processes[r] = "rank " + std::to_string(r) + " (dp" + std::to_string(m.dp) + " pp" + std::to_string(m.pp) +
                           " tp" + std::to_string(m.tp) + ")";
      names.threads[{r, 0}] = "compute";
      names.threads[{r, 1}] = "pp comm";
      names.threads[{r, 2}] = "dp comm";
    }
    const std::string trace_path = (fs::path(c.out_dir) / "trace.json").string();
    write_chrome_trace(trace_path, events, names);
    const auto records = read_metrics(metrics_path);
    write_json_atomic((fs::path(c.out_dir) / "summary.json").string(), records.empty() ? nlohmann::json() : records.back());
    std::printf("\n%s\nmetrics  %s\nconfig   %s\ntrace    %s (last step; open in Perfetto)\n",
                summary_table(records).c_str(), metrics_path.c_str(),
                (fs::path(c.out_dir) / "config.json").string().c_str(), trace_path.c_str());
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace

Command make_train_command() {
  Command c;
  c.name = "train";
  c.summary = "train a GPT with dp x pp x tp parallelism from a JSON config";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("config", po::value<std::string>(), "JSON config file (absent: the defaults, the README's experiment)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override: --set layout.pp=4 (repeatable)");
  };
  c.prepare = [](const po::variables_map& vm, int world_size) -> Command::Job {
    const std::vector<std::string> sets = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
    TrainJob job;
    job.config = vm.count("config") ? load_train_config(vm["config"].as<std::string>(), sets)
                                    : parse_train_config(nlohmann::json::object(), sets);
    const TrainConfig& cfg = job.config;
    MeshLayout(cfg.layout.dp, cfg.layout.pp, cfg.layout.tp, cfg.layout.order).check_world_size(world_size);
    // Data: the given files, or the default corpus (made once, atomically; every rank reaches the
    // same files). Opening them here reports a bad file as an input error on every rank.
    job.train_path = cfg.data.train;
    job.val_path = cfg.data.val;
    if (job.train_path.empty() || job.val_path.empty()) {
      const DefaultCorpus corpus = ensure_default_corpus((fs::path(cfg.out_dir).parent_path() / "data").string());
      if (job.train_path.empty()) job.train_path = corpus.train_path;
      if (job.val_path.empty()) job.val_path = corpus.val_path;
    }
    for (const std::string& p : {job.train_path, job.val_path}) (void)TokenFile(p);
    if (!cfg.resume.empty()) (void)verify_checkpoint(cfg.resume);
    return [job](Communicator& world) { return run_training(job, world); };
  };
  return c;
}

}  // namespace trident
