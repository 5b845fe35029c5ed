// `trident simulate --config FILE [--set key.path=value …] --cluster NAME|FILE [--json PATH] [--trace PATH]`:
// one training step of `trident train`'s config, simulated on a cluster (experiments/sim/).
//
// The config and --set keys are exactly `trident train`'s; the device count is dp × pp × tp.
// Nothing is run on the device simulated and no data file is read: `device=cuda` and
// `precision=bf16` simulate on a CPU-only build. One process, no MPI. Prints the summary table;
// --json writes the result (SimResult's JSON, experiments/sim/simulator.h), --trace a Chrome trace
// of the simulated step laid out like `trident train`'s trace.json. A plan that does not fit the
// device's memory is reported (table, JSON) and ends with exit code 2 and the knob to turn.
#include <cstdio>

#include "core/atomic_file.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/plan_flags.h"
#include "experiments/sim/simulator.h"

namespace po = boost::program_options;

namespace trident {

Command make_simulate_command() {
  Command c;
  c.name = "simulate";
  c.summary = "simulate one training step of a config on a cluster (time, MFU, bubble, memory)";
  c.declare = [](po::options_description& d) {
    declare_plan_flags(d);
    d.add_options()
      ("cluster", po::value<std::string>()->default_value("cpu"),
       "a shipped cluster (a100, h100, h200, cpu) or a cluster file (JSON)")
      ("json", po::value<std::string>()->default_value(""), "write the result as JSON here")
      ("trace", po::value<std::string>()->default_value(""), "write a Chrome trace of the simulated step here");
  };
  c.prepare_local = [](const po::variables_map& vm) -> Command::LocalJob {
    const TrainPlan plan = plan_from_flags(vm);
    const ClusterSpec cluster = load_cluster(vm["cluster"].as<std::string>());
    const std::string json_path = vm["json"].as<std::string>(), trace_path = vm["trace"].as<std::string>();
    return [plan, cluster, json_path, trace_path]() {
      const SimResult r = simulate(plan, cluster, SimOptions{!trace_path.empty()});
      std::fputs(summary_table(r).c_str(), stdout);
      if (!json_path.empty()) {
        const std::string text = to_json(r).dump(2) + "\n";
        write_file_atomically(json_path, {{text.data(), text.size()}}, "trident simulate --json");
        std::printf("json     %s\n", json_path.c_str());
      }
      if (!trace_path.empty()) {
        write_sim_trace(trace_path, r);
        std::printf("trace    %s (open in Perfetto beside a measured trace.json)\n", trace_path.c_str());
      }
      std::fflush(stdout);
      if (r.memory.fits()) return kExitOk;
      std::fprintf(stderr, "trident: error: the plan does not fit %s's memory: %s\n", cluster.name.c_str(),
                   r.memory.advice().c_str());
      return kExitUsage;
    };
  };
  return c;
}

}  // namespace trident
