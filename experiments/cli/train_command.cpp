// `trident train --config FILE.json [--set key.path=value …]`: one 3D-parallel experiment.
//
// Everything is validated before any rank writes anything (the config, the plan and its memory, the
// data files, a checkpoint to resume from: experiments/train/run_inputs.h), and the ranks agree on
// the plan and those files before they communicate. Rank 0 prints a progress line per step; every
// step appends a record to
// <out_dir>/metrics.jsonl; the resolved config goes to <out_dir>/config.json; at the end a summary
// table, <out_dir>/summary.json and one merged Chrome trace of the last step (<out_dir>/trace.json,
// pid = world rank; tids: compute, pp comm, dp comm) that opens in Perfetto.
#include <cstdio>
#include <filesystem>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include "core/atomic_file.h"
#include "experiments/cli/cli.h"
#include "experiments/data/tokenizer.h"
#include "experiments/plan/plan.h"
#include "experiments/train/metrics.h"
#include "experiments/train/run_inputs.h"
#include "experiments/train/run_summary.h"
#include "experiments/train/trainer.h"
#include "schedules/timeline.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

namespace {


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

std::string progress_line(const StepRecord& r, int steps) {
  char line[256];
  const std::string val = r.val_loss ? " | val " + std::to_string(*r.val_loss).substr(0, 6) : "";
  std::snprintf(line, sizeof line,
                "step %4lld/%d | loss %.4f%s | lr %.2e | %7.1f ms | %8.0f tok/s | MFU %5.2f%% | bubble %4.1f%%%s\n",
                static_cast<long long>(r.step), steps, r.loss, val.c_str(), r.lr, 1e3 * r.step_time_s, r.tokens_per_s,
                100.0 * r.mfu, 100.0 * r.bubble_frac, r.skipped ? " | SKIPPED (non-finite)" : "");
  return line;
}

// The merged trace of the last step, the run summary (JSON and the printed table).
void write_run_outputs(const Trainer& trainer, const std::vector<TraceEvent>& events, const std::string& metrics_path) {
  const TrainPlan& p = trainer.plan();
  TraceNames names;
  for (int r = 0; r < p.world_size(); ++r) {
    const MeshCoord m = p.mesh.coord(r);
    names.processes[r] = "rank " + std::to_string(r) + " (dp" + std::to_string(m.dp) + " pp" + std::to_string(m.pp) +
                         " tp" + std::to_string(m.tp) + ")";
    names.threads[{r, 0}] = "compute";
    names.threads[{r, 1}] = "pp comm";
    names.threads[{r, 2}] = "dp comm";
  }
  const std::string trace_path = (fs::path(p.out_dir) / "trace.json").string();
  write_chrome_trace(trace_path, events, names);
  std::vector<StepRecord> records;
  for (const nlohmann::json& r : read_metrics(metrics_path)) records.push_back(step_record_from_json(r));
  const RunSummary summary = summarize(records);
  write_json_atomic((fs::path(p.out_dir) / "summary.json").string(), to_json(summary));
  std::printf("\n%s\nmetrics  %s\nconfig   %s\ntrace    %s (last step; open in Perfetto)\n",
              summary_table(summary).c_str(), metrics_path.c_str(),
              (fs::path(p.out_dir) / "config.json").string().c_str(), trace_path.c_str());
  std::fflush(stdout);
}

// A resumed run continues metrics.jsonl from its checkpoint: records of steps after it (written
// before the interruption) are dropped, so every step appears once.
void keep_metrics_up_to(const std::string& path, std::int64_t step) {
  if (!fs::exists(path)) return;
  std::string kept;
  bool dropped = false;
  for (const nlohmann::json& r : read_metrics(path)) {
    if (r.is_object() && r.contains("step") && r["step"].is_number() && r["step"].get<double>() > static_cast<double>(step))
      dropped = true;
    else
      kept += r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  if (dropped) write_file_atomically(path, {{kept.data(), kept.size()}}, "metrics.jsonl");
}

// The error when `max_consecutive_skips` steps in a row were skipped as non-finite.
std::string skip_message(const TrainPlan& plan, std::int64_t last_step) {
  return "steps " + std::to_string(last_step - plan.max_consecutive_skips + 1) + " to " + std::to_string(last_step) +
         " were all skipped: the loss or the gradient norm was not finite (max_consecutive_skips = " +
         std::to_string(plan.max_consecutive_skips) + "). Lower optimizer.lr, set optimizer.grad_clip, check the " +
         "data, or resume from an earlier checkpoint; raise max_consecutive_skips to tolerate longer runs of them";
}

int run_training(const TrainPlan& plan, Communicator& world) {
  if (world.rank() == 0) {
    fs::create_directories(plan.out_dir);
    write_json_atomic((fs::path(plan.out_dir) / "config.json").string(), to_json(plan));
    // The data's tokenizer, for `trident generate` and `trident export` of this run's checkpoints.
    if (const auto record = read_tokenizer_record(tokenizer_record_path(plan.data.train)))
      write_json_atomic((fs::path(plan.out_dir) / "tokenizer.json").string(), *record);
  }
  world.barrier();
  Trainer trainer(plan, world);
  const std::string metrics_path = (fs::path(plan.out_dir) / "metrics.jsonl").string();
  if (!plan.resume.empty()) {
    trainer.load_checkpoint(plan.resume);
    if (world.rank() == 0) keep_metrics_up_to(metrics_path, trainer.step());
    print0(world, "resumed from " + plan.resume + " at step " + std::to_string(trainer.step()) + "\n");
  } else if (!plan.init_from.empty()) {
    trainer.load_weights(plan.init_from);
    print0(world, "initialised from " + plan.init_from + " (weights only: fresh optimizer state, step 0)\n");
  }
  std::optional<MetricsWriter> metrics;
  if (world.rank() == 0) metrics.emplace(metrics_path, !plan.resume.empty());
  const std::string schedule = plan.schedule_file.empty() ? plan.schedule.name : plan.schedule_file;
  print0(world, "trident train: " + std::to_string(world.size()) + " ranks, " + plan.mesh.str() + ", schedule " +
                    schedule + ", " + std::to_string(plan.steps) + " steps\n");
  int skipped_in_a_row = 0;
  while (trainer.step() < plan.steps) {
    StepRecord rec = trainer.train_step();
    const std::int64_t s = trainer.step();
    skipped_in_a_row = rec.skipped ? skipped_in_a_row + 1 : 0;
    if (plan.eval_interval > 0 && (s % plan.eval_interval == 0 || s == plan.steps)) rec.val_loss = trainer.evaluate();
    if (world.rank() == 0) {
      metrics->write(to_json(rec));
      if (s % plan.log_interval == 0 || s == plan.steps || rec.skipped) print0(world, progress_line(rec, plan.steps));
    }
    // Every rank has the same record, so every rank stops here alike: no abort needed.
    if (skipped_in_a_row >= plan.max_consecutive_skips) {
      if (world.rank() == 0) std::fprintf(stderr, "trident: error: %s\n", skip_message(plan, s).c_str());
      return kExitFailed;
    }
    if (plan.checkpoint_interval > 0 && (s % plan.checkpoint_interval == 0 || s == plan.steps)) {
      const std::string dir = (fs::path(plan.out_dir) / "checkpoints" / ("step_" + std::to_string(s))).string();
      trainer.save_checkpoint(dir);
      print0(world, "checkpoint " + dir + "\n");
    }
  }
  const std::vector<TraceEvent> events = gather_trace(world, trainer.last_step_trace());
  if (world.rank() == 0) write_run_outputs(trainer, events, metrics_path);
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
    const TrainConfig config = vm.count("config") ? load_train_config(vm["config"].as<std::string>(), sets)
                                                  : parse_train_config(nlohmann::json::object(), sets);
    TrainPlan plan = resolve_plan(config);
    plan.mesh.check_world_size(world_size);
    // resume=auto, the out_dir, the device, memory, the checkpoint, the data: nothing is written
    // before all of it passed (run_inputs.h).
    const RunInputs inputs = check_run_inputs(plan, world_size);
    Command::Job job = [plan, done = inputs.already_complete](Communicator& world) {
      if (!done) return run_training(plan, world);
      print0(world, "nothing to do: " + plan.resume + " is at the last step (steps = " + std::to_string(plan.steps) +
                        "); raise steps to train further\n");
      return kExitOk;
    };
    // What the ranks compare before they communicate: the plan and what was read for it.
    job.agreement = to_json(plan);
    job.agreement["inputs"] = inputs.digest;
    return job;
  };
  return c;
}

}  // namespace trident
