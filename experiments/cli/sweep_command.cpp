// `trident sweep SPEC.json --out DIR [--launcher local|slurm] [--dry-run]`: a grid of training runs
// from one spec (experiments/sweeps/sweep_spec.h), each point its own `mpirun … trident train` in
// DIR/<point>/, results in DIR/results.csv and DIR/results.jsonl. Re-running resumes.
//   trident sweep experiments/sweeps/schedules.json --out runs/schedules
// The sweep is not an MPI process (Command::prepare_local): run it directly, not under mpirun.
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/sweeps/sweep_points.h"
#include "experiments/sweeps/sweep_runner.h"
#include "experiments/sweeps/sweep_spec.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace trident {

Command make_sweep_command() {
  Command c;
  c.name = "sweep";
  c.summary = "run a grid of training runs from a sweep spec; results.csv + results.jsonl, resumable";
  c.positional = {"spec"};
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("spec", po::value<std::string>(), "the sweep spec (JSON; also the first argument)")
      ("out", po::value<std::string>(), "output folder: results.csv, results.jsonl, one folder per point")
      ("launcher", po::value<std::string>(), "local (mpirun here) or slurm (sbatch per point); default: the spec's")
      ("dry-run", po::bool_switch(), "list the points (and which are complete or invalid); run nothing");
  };
  c.prepare_local = [](const po::variables_map& vm) -> Command::LocalJob {
    const char* ranks = std::getenv("OMPI_COMM_WORLD_SIZE");
    TRIDENT_CHECK(ranks == nullptr || std::string(ranks) == "1", "trident sweep started as ", ranks, " MPI ranks: ",
                  "run it directly (it starts an mpirun per point), not under mpirun");
    TRIDENT_CHECK(vm.count("spec"), "no sweep spec: trident sweep SPEC.json --out DIR");
    TRIDENT_CHECK(vm.count("out"), "no --out: name the folder the results and runs go to (e.g. --out runs/my_sweep)");
    const SweepSpec spec = load_sweep_spec(vm["spec"].as<std::string>());
    SweepOptions o;
    o.out_dir = vm["out"].as<std::string>();
    o.launcher = vm.count("launcher") ? vm["launcher"].as<std::string>() : spec.launcher;
    TRIDENT_CHECK(o.launcher == "local" || o.launcher == "slurm", "--launcher '", o.launcher,
                  "' is not a launcher: use local (mpirun on this machine) or slurm (sbatch per point)");
    TRIDENT_CHECK(!fs::exists(o.out_dir) || fs::is_directory(o.out_dir), "--out '", o.out_dir,
                  "' exists and is not a folder");
    o.dry_run = vm["dry-run"].as<bool>();
    o.trident = fs::read_symlink("/proc/self/exe").string();
    auto points = expand_sweep(spec, o.out_dir);
    return [spec, points = std::move(points), o] { return run_sweep(spec, points, o); };
  };
  return c;
}

}  // namespace trident
