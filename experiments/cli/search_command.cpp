// `trident search --gpus N --global-batch B --cluster NAME|FILE [--config FILE] [--set k=v …] [--csv PATH] [--top K]`:
// the best layouts of a model (experiments/sim/search.h). The config and --set keys are
// `trident train`'s: they fix the model, the precision, the device and everything the search does
// not vary (it varies tp, pp, dp, v, micro_batch_size, schedule, recompute, sequence_parallel,
// zero). Prints the top K by tokens/s; --csv writes every candidate (those that do not fit too,
// with the memory they would need). One process, no MPI, no device.
#include <cstdio>

#include "core/atomic_file.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/plan_flags.h"
#include "experiments/sim/memory_model.h"
#include "experiments/sim/search.h"

namespace po = boost::program_options;

namespace trident {

Command make_search_command() {
  Command c;
  c.name = "search";
  c.summary = "find the fastest layouts of a model for a GPU count, global batch and cluster (simulated)";
  c.declare = [](po::options_description& d) {
    declare_plan_flags(d);
    d.add_options()
      ("gpus", po::value<int>(), "devices to lay the model out on (required)")
      ("global-batch", po::value<std::int64_t>(), "sequences per optimizer step (required)")
      ("cluster", po::value<std::string>()->default_value("cpu"), "a shipped cluster (a100, h100, h200, cpu) or a cluster file")
      ("csv", po::value<std::string>()->default_value(""), "write every candidate here (CSV)")
      ("top", po::value<int>()->default_value(10), "how many of the best to print");
  };
  c.prepare_local = [](const po::variables_map& vm) -> Command::LocalJob {
    TRIDENT_CHECK(vm.count("gpus"), "--gpus is required: the number of devices to lay the model out on");
    TRIDENT_CHECK(vm.count("global-batch"), "--global-batch is required: sequences per optimizer step");
    const TrainConfig base = config_from_flags(vm);
    (void)resolve_plan(base);  // the base config's own values are checked once, up front
    SearchSpace space;
    space.devices = vm["gpus"].as<int>();
    space.global_batch = vm["global-batch"].as<std::int64_t>();
    TRIDENT_CHECK(space.devices >= 1, "--gpus is ", space.devices, ": use at least 1");
    TRIDENT_CHECK(space.global_batch >= 1, "--global-batch is ", space.global_batch, ": use at least 1");
    const ClusterSpec cluster = load_cluster(vm["cluster"].as<std::string>());
    const std::string csv = vm["csv"].as<std::string>();
    const int top = vm["top"].as<int>();
    TRIDENT_CHECK(top >= 1, "--top is ", top, ": use at least 1");
    return [base, space, cluster, csv, top]() {
      std::printf("searching layouts of %s on %d x %s, global batch %lld\n",
                  ("L" + std::to_string(base.model.layers) + " h" + std::to_string(base.model.hidden)).c_str(),
                  space.devices, cluster.name.c_str(), static_cast<long long>(space.global_batch));
      std::fflush(stdout);
      const SearchResult r = search_layouts(base, space, cluster, [](const std::string& line) {
        std::fputs(line.c_str(), stdout);
        std::fflush(stdout);
      });
      std::printf("%d valid layouts, %d fit and were simulated, in %.1f s\n\n%s", r.candidates, r.simulated, r.wall_s,
                  search_table(r, static_cast<std::size_t>(top)).c_str());
      if (!csv.empty()) {
        const std::string text = search_csv(r);
        write_file_atomically(csv, {{text.data(), text.size()}}, "trident search --csv");
        std::printf("csv      %s\n", csv.c_str());
      }
      std::fflush(stdout);
      if (r.simulated > 0) return kExitOk;
      if (r.rows.empty()) {
        std::fprintf(stderr, "trident: error: no valid layout of this model for %d devices and global batch %lld\n",
                     space.devices, static_cast<long long>(space.global_batch));
      } else {
        std::fprintf(stderr, "trident: error: no layout fits %s's memory: the smallest needs %s per device (biggest term: "
                     "%s); use more devices, a bigger device, or fewer parameters\n",
                     cluster.name.c_str(), format_bytes(static_cast<double>(r.rows.front().peak_memory_bytes)).c_str(),
                     r.rows.front().biggest_memory_term.c_str());
      }
      return kExitUsage;
    };
  };
  return c;
}

}  // namespace trident
