// `trident plot KIND --input CSV_OR_TRACE --out FILE.{png,svg} [--out FILE2.svg]`: the figures of an
// experiment, drawn by experiments/plots/plot.py (matplotlib).
//   timeline  a run's trace.json: per-rank Gantt of its last step, and under it the analyzer's
//             timeline of the same schedule with the costs measured in that trace (from the
//             config.json beside the trace, or --config; or a trace given with --predicted, e.g.
//             from `trident schedule --trace`). The analyzer's trace is kept as <out>.predicted.json.
//   compare   a sweep's results.csv: tokens/s and bubble per point, grouped
//   scaling   a sweep's results.csv: throughput and parallel efficiency against rank count
//   memory    a sweep's results.csv: peak memory per pipeline stage per point
// Not an MPI process (Command::prepare_local): it reads files and runs python3.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/plots/plot_scripts.h"
#include "experiments/plots/predicted_timeline.h"
#include "experiments/sweeps/sweep_spec.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

namespace {

struct PlotJob {
  std::vector<std::string> argv;  // python3 plot.py KIND ...
  std::string predicted_from_trace, predicted_config, predicted_out;  // timeline: the analyzer's trace to make
};

int run_plot(const PlotJob& job) {
  if (!job.predicted_out.empty()) {
    const Analysis a = write_predicted_trace(job.predicted_from_trace, job.predicted_config, job.predicted_out);
    std::printf("analyzer trace %s (makespan %.2f ms)\n", job.predicted_out.c_str(), a.makespan / 1e3);
    std::fflush(stdout);
  }
  std::vector<char*> args;
  for (const std::string& a : job.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  TRIDENT_FAIL("cannot run python3 (", errno_text(errno), "): install it with `bash .ci/install-deps` ",
               "(python3-matplotlib)");
}

}  // namespace

Command make_plot_command() {
  Command c;
  c.name = "plot";
  c.summary = "draw an experiment's figures (timeline, compare, scaling, memory) as PNG or SVG";
  c.positional = {"kind"};
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("kind", po::value<std::string>(), "timeline | compare | scaling | memory (also the first argument)")
      ("input", po::value<std::string>(), "a run's trace.json (timeline) or a sweep's results.csv (the others)")
      ("out", po::value<std::vector<std::string>>()->composing(), "FILE.png or FILE.svg (repeatable: both at once)")
      ("config", po::value<std::string>(), "timeline: the run's config.json (default: beside the trace)")
      ("predicted", po::value<std::string>(), "timeline: an analyzer trace to draw under the run (instead of deriving one)")
      ("where", po::value<std::vector<std::string>>()->composing(), "only rows with KEY=VALUE (repeatable), e.g. layout.pp=4")
      ("hue", po::value<std::string>(), "compare/memory: the column that colours the bars (default: layout.schedule when it varies)")
      ("title", po::value<std::string>(), "the figure's title");
  };
  c.prepare_local = [](const po::variables_map& vm) -> Command::LocalJob {
    TRIDENT_CHECK(vm.count("kind"), "no plot kind: trident plot KIND --input FILE --out FILE.png (KIND: timeline, ",
                  "compare, scaling, memory)");
    const std::string kind = vm["kind"].as<std::string>();
    const auto& kinds = plot_kinds();
    TRIDENT_CHECK(std::find(kinds.begin(), kinds.end(), kind) != kinds.end(), "'", kind,
                  "' is not a plot kind: use timeline, compare, scaling or memory");
    TRIDENT_CHECK(vm.count("input"), "no --input: give a run's trace.json (timeline) or a sweep's results.csv");
    const std::string input = vm["input"].as<std::string>();
    TRIDENT_CHECK(fs::is_regular_file(input), "--input '", input, "' is not a file");
    TRIDENT_CHECK(vm.count("out"), "no --out: name the figure to write (FILE.png or FILE.svg)");
    const auto outs = vm["out"].as<std::vector<std::string>>();
    for (const std::string& o : outs) {
      const std::string ext = fs::path(o).extension().string();
      TRIDENT_CHECK(ext == ".png" || ext == ".svg", "--out '", o, "': write a .png or an .svg file");
    }
    PlotJob job;
    // Debian's python3-matplotlib is installed for the system interpreter; a pyenv or venv python3
    // earlier on PATH would not see it.
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    job.argv = {python, plot_script_path(), kind, "--input", input};
    for (const std::string& o : outs) job.argv.insert(job.argv.end(), {"--out", o});
    if (vm.count("where"))
      for (const std::string& w : vm["where"].as<std::vector<std::string>>()) {
        TRIDENT_CHECK(w.find('=') != std::string::npos && w.front() != '=', "--where '", w,
                      "' is not KEY=VALUE (e.g. layout.pp=4)");
        job.argv.insert(job.argv.end(), {"--where", w});
      }
    for (const char* opt : {"hue", "title"})
      if (vm.count(opt)) job.argv.insert(job.argv.end(), {std::string("--") + opt, vm[opt].as<std::string>()});
    if (kind == "timeline") {
      if (vm.count("predicted")) {
        const std::string predicted = vm["predicted"].as<std::string>();
        TRIDENT_CHECK(fs::is_regular_file(predicted), "--predicted '", predicted, "' is not a file");
        job.argv.insert(job.argv.end(), {"--predicted", predicted});
      } else {
        const fs::path config = vm.count("config") ? fs::path(vm["config"].as<std::string>())
                                                   : fs::path(input).parent_path() / "config.json";
        TRIDENT_CHECK(!vm.count("config") || fs::is_regular_file(config), "--config '", config.string(), "' is not a file");
        if (fs::is_regular_file(config)) {
          job.predicted_from_trace = input;
          job.predicted_config = config.string();
          job.predicted_out = fs::path(outs.front()).replace_extension(".predicted.json").string();
          job.argv.insert(job.argv.end(), {"--predicted", job.predicted_out});
        }
      }
    }
    return [job] { return run_plot(job); };
  };
  return c;
}

}  // namespace trident
