// `trident schedule`: generate (or load) a pipeline schedule, validate it, and show what the
// analyzer predicts — bubble per stage, peak stash, makespan — with an ASCII timeline, optionally
// saving the schedule's text form (to edit and load back) and a Chrome trace.
//   trident schedule --name zb-h1 --pp 4 --micro-batches 8 --trace zb.json
//   trident schedule --file mine.txt --f 1 --b 2 --p2p 0.1
#include <cstdio>
#include <sstream>

#include "experiments/cli/cli.h"
#include "parallel/communicator.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"
#include "schedules/lowering.h"
#include "schedules/timeline.h"
#include "schedules/validator.h"

namespace po = boost::program_options;

namespace trident {

namespace {

struct ScheduleJob {
  Schedule schedule;
  ActionCosts costs;
  std::string save, trace;
  double unit = 1.0;
};

int run_schedule(const ScheduleJob& job, Communicator& world) {
  if (world.rank() != 0) return kExitOk;  // a pure computation: rank 0 does it
  const Schedule& s = job.schedule;
  const Analysis a = analyze(s, job.costs);
  std::ostringstream os;
  char line[200];
  os << "schedule " << s.name << ": pp=" << s.pp << " v=" << s.v << " micro_batches=" << s.micro_batches
     << " placement=" << placement_name(s.placement) << "\n";
  std::snprintf(line, sizeof line, "costs per chunk: F=%g B=%g I=%g W=%g p2p=%g\n\n", job.costs.f, job.costs.b,
                job.costs.i, job.costs.w, job.costs.p2p);
  os << line << render_ascii(a, s.pp, job.unit) << "\n";
  std::snprintf(line, sizeof line, "%5s %10s %10s %8s %11s\n", "stage", "busy", "bubble", "bubble%", "peak stash");
  os << line;
  for (int r = 0; r < s.pp; ++r) {
    const auto i = static_cast<std::size_t>(r);
    std::snprintf(line, sizeof line, "%5d %10.3f %10.3f %7.2f%% %11d\n", r, a.busy[i], a.bubble[i],
                  100.0 * a.bubble_fraction[i], a.peak_stash[i]);
    os << line;
  }
  std::snprintf(line, sizeof line, "makespan %.3f\n", a.makespan);
  os << line;
  if (!job.save.empty()) {
    s.save(job.save);
    os << "schedule written to " << job.save << "\n";
  }
  if (!job.trace.empty()) {
    TraceNames names;
    for (int r = 0; r < s.pp; ++r) {
      names.processes[r] = "stage " + std::to_string(r);
      names.threads[{r, 0}] = "compute";
      names.threads[{r, 1}] = "pp comm";
    }
    // One cost unit is shown as one millisecond.
    write_chrome_trace(job.trace, to_trace_events(a.timeline, 1000.0), names);
    os << "Chrome trace written to " << job.trace << " (open in Perfetto; 1 cost unit = 1 ms)\n";
  }
  std::fputs(os.str().c_str(), stdout);
  return kExitOk;
}

}  // namespace

Command make_schedule_command() {
  Command c;
  c.name = "schedule";
  c.summary = "generate or load a pipeline schedule, validate it, and print the analyzer's timeline";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("name", po::value<std::string>()->default_value("1f1b"), "gpipe, 1f1b, interleaved, zb-h1 or zb-v")
      ("file", po::value<std::string>(), "load a schedule in text form instead of generating one")
      ("pp", po::value<int>()->default_value(4), "pipeline stages")
      ("v", po::value<int>()->default_value(2), "chunks per stage (interleaved)")
      ("micro-batches", po::value<int>()->default_value(8), "micro-batches per step")
      ("f", po::value<double>()->default_value(1.0), "cost of a forward of one chunk")
      ("b", po::value<double>()->default_value(2.0), "cost of a full backward of one chunk")
      ("i", po::value<double>()->default_value(1.0), "cost of an input-gradient backward (I)")
      ("w", po::value<double>()->default_value(1.0), "cost of a weight-gradient backward (W)")
      ("p2p", po::value<double>()->default_value(0.0), "point-to-point latency")
      ("unit", po::value<double>()->default_value(1.0), "time per character of the ASCII timeline")
      ("save", po::value<std::string>()->default_value(""), "write the schedule's text form here")
      ("trace", po::value<std::string>()->default_value(""), "write a Chrome trace of the timeline here");
  };
  c.prepare = [](const po::variables_map& vm, int) -> Command::Job {
    ScheduleJob job;
    job.schedule = vm.count("file") ? Schedule::load(vm["file"].as<std::string>())
                                    : make_schedule(vm["name"].as<std::string>(), vm["pp"].as<int>(),
                                                    vm["v"].as<int>(), vm["micro-batches"].as<int>());
    check_valid(job.schedule);
    job.costs.f = vm["f"].as<double>();
    job.costs.b = vm["b"].as<double>();
    job.costs.i = vm["i"].as<double>();
    job.costs.w = vm["w"].as<double>();
    job.costs.p2p = vm["p2p"].as<double>();
    job.unit = vm["unit"].as<double>();
    TRIDENT_CHECK(job.unit > 0, "--unit must be positive, got ", job.unit);
    job.save = vm["save"].as<std::string>();
    job.trace = vm["trace"].as<std::string>();
    return [job](Communicator& world) { return run_schedule(job, world); };
  };
  return c;
}

}  // namespace trident
