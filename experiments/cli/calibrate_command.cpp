// `trident calibrate [--out FILE] [--quick]`, on at least 2 ranks:
//   experiments/launch/launch.sh 2 build/experiments/trident calibrate
// measures this machine (ops of the real layer code in place, GEMM grid, thread speed-up, MPI
// collectives; experiments/sim/calibrate.h) and writes the cpu cluster file that `trident simulate
// --cluster cpu` reads (default: the shipped experiments/sim/clusters/cpu.json).
#include <cstdio>
#include <filesystem>

#include "core/atomic_file.h"
#include "experiments/cli/cli.h"
#include "experiments/sim/calibrate.h"
#include "parallel/communicator.h"

namespace po = boost::program_options;

namespace trident {

Command make_calibrate_command() {
  Command c;
  c.name = "calibrate";
  c.summary = "measure this machine into the cpu cluster file the simulator uses (run on >= 2 ranks)";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("out", po::value<std::string>()->default_value((std::filesystem::path(shipped_cluster_dir()) / "cpu.json").string()),
       "where to write the cluster file")
      ("quick", po::bool_switch()->default_value(false), "fewer repetitions and no GEMM grid (a rough file in seconds)");
  };
  c.prepare = [](const po::variables_map& vm, int world_size) -> Command::Job {
    TRIDENT_CHECK(world_size >= 2, "trident calibrate measures the network between ranks: run it on at least 2 ranks ",
                  "(experiments/launch/launch.sh 2 build/experiments/trident calibrate)");
    const std::string out = vm["out"].as<std::string>();
    const std::filesystem::path dir = std::filesystem::path(out).parent_path();
    TRIDENT_CHECK(dir.empty() || std::filesystem::is_directory(dir), "--out ", out, ": directory ", dir.string(),
                  " does not exist");
    CalibrationOptions options = default_calibration();
    if (vm["quick"].as<bool>()) {
      options.repeats = 2;
      options.gemm_grid = false;
    }
    return [out, options](Communicator& world) {
      const ClusterSpec cluster = calibrate_cpu(world, options, [&](const std::string& line) { print0(world, line); });
      if (world.rank() == 0) {
        const std::string text = to_json(cluster).dump(2) + "\n";
        write_file_atomically(out, {{text.data(), text.size()}}, "trident calibrate");
        std::printf("%s\npeak %.2f GFLOP/s per rank (f32 GEMM), memory %.2f GB/s, %d cores\ncluster file %s\n",
                    cluster.description.c_str(), cluster.device.peak(DType::kF32) / 1e9,
                    cluster.device.memory_bandwidth / 1e9, cluster.device.cores, out.c_str());
        std::fflush(stdout);
      }
      return kExitOk;
    };
  };
  return c;
}

}  // namespace trident
