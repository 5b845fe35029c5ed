// The sweep loop: resume, launch, record, report, plot.
#include "experiments/sweeps/sweep_runner.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/sweeps/child_process.h"
#include "experiments/sweeps/launcher.h"
#include "experiments/sweeps/results.h"
#include "experiments/train/metrics.h"

namespace trident {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

// Counts and times for the progress lines: the ETA is the mean time per launched point so far
// (wall clock since the first launch, so parallel Slurm jobs count once) times the points left.
struct Progress {
  std::size_t total = 0, done = 0;
  std::size_t launched_done = 0, launched_left = 0;
  double first_launch = -1;

  // "[ 3/12]": points done (plus `ahead`, for the line announcing the next one) of all.
  std::string prefix(std::size_t ahead = 0) const {
    const int width = static_cast<int>(std::to_string(total).size());
    char buf[48];
    std::snprintf(buf, sizeof buf, "[%*zu/%zu]", width, done + ahead, total);
    return buf;
  }
  std::string eta() const {
    if (launched_left == 0) return "";
    if (launched_done == 0 || first_launch < 0) return " | ETA --";
    const double per_point = (monotonic_seconds() - first_launch) / static_cast<double>(launched_done);
    return " | ETA " + clock_text(per_point * static_cast<double>(launched_left));
  }
};

std::string outcome_line(const SweepPoint& p, const ojson& row) {
  std::ostringstream os;
  char buf[160];
  const std::string status = row.value("status", "");
  std::snprintf(buf, sizeof buf, "%-8s%s (%d rank%s)  %.1f s", status.c_str(), p.label.c_str(), p.world_size,
                p.world_size == 1 ? "" : "s", row.value("wall_s", 0.0));
  os << buf;
  if (status == "ok") {
    auto num = [&](const char* k) { return row.contains(k) && row.at(k).is_number() ? row.at(k).get<double>() : -1.0; };
    if (num("tokens_per_s") >= 0) os << " | " << static_cast<long>(num("tokens_per_s")) << " tok/s";
    if (num("step_time_median_s") >= 0) {
      std::snprintf(buf, sizeof buf, ", step %.1f ms", 1e3 * num("step_time_median_s"));
      os << buf;
    }
    if (num("bubble_frac") >= 0) {
      std::snprintf(buf, sizeof buf, ", bubble %.1f%%", 100 * num("bubble_frac"));
      os << buf;
    }
  } else {
    os << " | " << row.value("error", "");
  }
  return os.str();
}

// The point's folder and the config its run reads (the resolved config, out_dir = the folder).
void prepare_point(const SweepPoint& p) {
  fs::create_directories(p.dir);
  write_json_atomic((fs::path(p.dir) / "config.json").string(), to_json(*p.plan));
}

// `trident simulate` of the point's config on the spec's cluster, into <dir>/sim.json (the CSV's
// sim_* columns). Returns why it failed, or "". A plan that does not fit the cluster's memory still
// writes its JSON (and exits 2): that is a result, not a failure.
std::string simulate_point(const SweepPoint& p, const SweepSpec& spec, const SweepOptions& o) {
  const fs::path json = fs::path(p.dir) / "sim.json";
  std::string out, err;
  const int code = run_and_capture({o.trident, "simulate", "--config", (fs::path(p.dir) / "config.json").string(),
                                    "--cluster", spec.sim_cluster, "--json", json.string()},
                                   child_environment(), 300, out, err);
  if (fs::exists(json)) return "";
  const std::string why = err.empty() ? out : err;
  return "exit " + std::to_string(code) + ": " + why.substr(0, why.find('\n'));
}

// The spec's plots, through `trident plot` (PNG and SVG side by side). Returns false if any failed.
bool draw_plots(const SweepSpec& spec, const std::vector<SweepPoint>& points, const SweepResults& results,
                const SweepOptions& o) {
  bool all_ok = true;
  auto plot = [&](const std::string& kind, const std::string& input, const fs::path& stem) {
    std::string out, err;
    const int code = run_and_capture({o.trident, "plot", kind, "--input", input, "--out", stem.string() + ".png",
                                      "--out", stem.string() + ".svg"},
                                     child_environment(), 600, out, err);
    if (code == 0) {
      say("plot     " + stem.string() + ".{png,svg}\n");
    } else {
      all_ok = false;
      say("plot     " + kind + " failed: " + (err.empty() ? out : err) + "\n");
    }
  };
  for (const std::string& kind : spec.plots) {
    if (kind != "timeline") {
      fs::create_directories(fs::path(o.out_dir) / "plots");
      plot(kind, results.csv_path(), fs::path(o.out_dir) / "plots" / kind);
      continue;
    }
    for (const SweepPoint& p : points) {
      const fs::path folder = fs::path(o.out_dir) / fs::path(p.dir).filename();  // as --out names it
      if (results.complete(p.hash) && fs::exists(folder / "trace.json"))
        plot(kind, (folder / "trace.json").string(), folder / "timeline");
    }
  }
  return all_ok;
}

// DIR/spec.json: the spec this sweep last ran, for the record.
void keep_spec(const SweepSpec& spec, const std::string& out_dir) {
  std::ifstream in(spec.source);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  write_file_atomically((fs::path(out_dir) / "spec.json").string(), {{s.data(), s.size()}}, "spec.json");
}

}  // namespace

int run_sweep(const SweepSpec& spec, const std::vector<SweepPoint>& points, const SweepOptions& o) {
  SweepResults results(o.out_dir);
  std::vector<const SweepPoint*> pending;
  for (const SweepPoint& p : points)
    if (!results.complete(p.hash)) pending.push_back(&p);

  std::ostringstream head;
  head << "trident sweep " << spec.source << ": " << points.size() << " points";
  if (spec.product_size() != points.size()) head << " (of " << spec.product_size() << " in the grid, filtered)";
  head << ", " << points.size() - pending.size() << " already complete, " << pending.size() << " to run; launcher "
       << o.launcher << ", timeout " << spec.timeout_s << " s per point\n";
  if (!spec.description.empty()) head << spec.description << "\n";
  say(head.str());

  if (o.dry_run) {
    for (const SweepPoint& p : points) {
      const char* state = results.complete(p.hash) ? "complete" : p.plan ? "to run" : "invalid";
      std::printf("  %3d  %-9s %s (%d rank%s) -> %s%s%s\n", p.index, state, p.label.c_str(), p.world_size,
                  p.world_size == 1 ? "" : "s",
                  fs::path(p.dir).filename().c_str(), p.plan ? "" : ": ", p.plan ? "" : p.error.c_str());
    }
    return 0;
  }

  fs::create_directories(o.out_dir);
  keep_spec(spec, o.out_dir);
  results.rewrite_csv(points);  // the table of this spec's points from the start (resumed rows included)
  install_interrupt_handlers();
  const auto launcher = o.launcher == "slurm" ? make_slurm_launcher(spec, o.trident)
                                              : make_local_launcher(o.trident, spec.timeout_s);
  Progress progress{points.size(), points.size() - pending.size(), 0, 0, -1};
  for (const SweepPoint* p : pending) progress.launched_left += p->plan ? 1 : 0;
  int failed = 0;

  bool sim_warned = false;
  auto record = [&](const SweepPoint& p, const PointOutcome& outcome, bool launched) {
    if (p.plan && !spec.sim_cluster.empty()) {
      const std::string why = simulate_point(p, spec, o);
      if (!why.empty() && !sim_warned) say("trident simulate failed (sim_* columns stay empty): " + why + "\n");
      sim_warned = sim_warned || !why.empty();
    }
    const ojson row = result_row(p, outcome);
    results.add(row, points);
    ++progress.done;
    if (launched) ++progress.launched_done, --progress.launched_left;
    if (outcome.status != "ok") ++failed;
    say(progress.prefix() + " " + outcome_line(p, row) + progress.eta() + "\n");
  };

  std::size_t next = 0;
  int in_flight = 0;
  while ((next < pending.size() || in_flight > 0) && !interrupted()) {
    while (next < pending.size() && in_flight < launcher->slots() && !interrupted()) {
      const SweepPoint& p = *pending[next++];
      if (!p.plan) {
        record(p, {"failed", p.error, 2, 0.0}, false);
        continue;
      }
      prepare_point(p);
      if (launcher->slots() == 1)
        say(progress.prefix(1) + " start   " + p.label + " (" + std::to_string(p.world_size) + " rank" +
            (p.world_size == 1 ? "" : "s") + ")\n");
      if (progress.first_launch < 0) progress.first_launch = monotonic_seconds();
      try {
        launcher->start(p);
        ++in_flight;
      } catch (const std::exception& e) {
        record(p, {"failed", message_of(e), 1, 0.0}, true);
      }
    }
    if (in_flight == 0) continue;
    const auto end = launcher->wait_any();
    if (!end) break;
    --in_flight;
    record(points[static_cast<std::size_t>(end->index)], end->outcome, true);
  }
  if (interrupted()) {
    say("trident sweep: interrupted (" + launcher->on_interrupt() + "); " + std::to_string(progress.done) + " of " +
        std::to_string(points.size()) + " points are recorded in " + results.csv_path() +
        "; run the same command again to resume\n");
    return 130;
  }

  say("\n" + std::to_string(points.size() - static_cast<std::size_t>(failed)) + " of " + std::to_string(points.size()) +
      " points ok" + (failed ? ", " + std::to_string(failed) + " failed or timed out (see their error column)" : "") +
      "\nresults  " + results.csv_path() + "\n         " + results.jsonl_path() + "\n");
  const bool plots_ok = spec.plots.empty() || draw_plots(spec, points, results, o);
  return failed == 0 && plots_ok ? 0 : 1;
}

}  // namespace trident
