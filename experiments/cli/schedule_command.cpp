// `trident schedule`: generate, load or search for a pipeline schedule, validate it, and show what
// the analyzer predicts — bubble per stage, peak stash, makespan — with an ASCII timeline,
// optionally saving the schedule's text form (to edit, or to train with layout.schedule_file) and a
// Chrome trace. A pure computation: no MPI.
//   trident schedule --name zb-h1 --pp 4 --micro-batches 8 --trace zb.json
//   trident schedule --file mine.txt --f 1 --b 2 --p2p 0.1
//   trident schedule --all --pp 4 --micro-batches 8                      (every schedule, one table)
//   trident schedule --auto --pp 4 --micro-batches 8 --memory-cap 6 --costs-trace runs/default/trace.json
//       --save best.txt                                                  (the automatic scheduler)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/trace.h"
#include "experiments/cli/cli.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"
#include "schedules/timeline.h"
#include "schedules/trace_costs.h"
#include "schedules/validator.h"

namespace po = boost::program_options;

namespace trident {

namespace {

enum class Mode { kOne, kAll, kAuto };

struct ScheduleJob {
  Mode mode = Mode::kOne;
  std::string name, file;
  int pp = 4, v = 2, micro_batches = 8;
  ActionCosts costs;
  std::vector<std::string> cost_notes;  // what the trace did not measure
  std::string cost_source = "flags";
  AutoScheduleOptions auto_options;
  Schedule schedule;             // kOne: generated or loaded, valid
  AutoScheduleResult automatic;  // kAuto
  std::string save, trace;
  double unit = 1.0;
};

std::string format(const char* fmt, auto... args) {
  char line[256];
  std::snprintf(line, sizeof line, fmt, args...);
  return line;
}

double mean(const std::vector<double>& x) { return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size()); }

// The two bubbles of analyzer.h as fractions: of the step (1 − mean busy / makespan), and inside
// the longest stage span, the zero-bubble papers' measure (1 − mean busy / longest span).
double step_bubble(const Analysis& a) { return a.makespan > 0 ? 1.0 - mean(a.busy) / a.makespan : 0.0; }
double span_bubble(const Analysis& a) {
  const double longest = *std::max_element(a.span.begin(), a.span.end());
  return longest > 0 ? 1.0 - mean(a.busy) / longest : 0.0;
}

std::string describe_costs(const ScheduleJob& job, const char* per = "chunk") {
  const ActionCosts& c = job.costs;
  std::string out = format("costs per %s (%s): F=%g B=%g I=%g W=%g p2p=%g recv=%g\n", per, job.cost_source.c_str(),
                           c.f, c.b, c.i, c.w, c.p2p, c.recv);
  for (std::size_t k = 0; k < c.per_chunk.size(); ++k)
    out += format("  chunk %zu: F=%.4g B=%.4g I=%.4g W=%.4g\n", k, c.per_chunk[k][0], c.per_chunk[k][1],
                  c.per_chunk[k][2], c.per_chunk[k][3]);
  for (const std::string& note : job.cost_notes) out += "  note: " + note + "\n";
  return out;
}

// Time per character of the ASCII timeline: as asked, or (0) the 1-2-5 step that fits the makespan
// in about 120 characters.
double timeline_unit(double asked, double makespan) {
  if (asked > 0 || makespan <= 0) return asked > 0 ? asked : 1.0;
  const double raw = makespan / 120.0, decade = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double step : {1.0, 2.0, 5.0})
    if (raw <= step * decade) return step * decade;
  return 10.0 * decade;
}

// One schedule: the timeline, a row per stage, and the files asked for.
std::string show(const Schedule& s, const ScheduleJob& job) {
  const Analysis a = analyze(s, job.costs);
  const double unit = timeline_unit(job.unit, a.makespan);
  std::ostringstream os;
  os << "schedule " << s.name << ": pp=" << s.pp << " v=" << s.v << " micro_batches=" << s.micro_batches
     << " placement=" << placement_name(s.placement) << "\n"
     << describe_costs(job) << "\n"
     << render_ascii(a, s.pp, unit) << format("(one character = %g)\n", unit) << "\n"
     << format("%5s %10s %10s %8s %12s %11s\n", "stage", "busy", "bubble", "bubble%", "span bubble", "peak stash");
  for (int r = 0; r < s.pp; ++r) {
    const auto i = static_cast<std::size_t>(r);
    os << format("%5d %10.3f %10.3f %7.2f%% %12.3f %11d\n", r, a.busy[i], a.bubble[i], 100.0 * a.bubble_fraction[i],
                 a.span_bubble[i], a.peak_stash[i]);
  }
  os << format("makespan %.3f; bubble %.2f%% of the step, %.2f%% inside the longest stage span\n", a.makespan,
               100.0 * step_bubble(a), 100.0 * span_bubble(a));
  if (!job.save.empty()) {
    s.save(job.save);
    os << "schedule written to " << job.save << " (train it with --set layout.schedule_file=" << job.save << ")\n";
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
  return os.str();
}

// Every registered schedule for the same pp, v, m and costs, one row each. So that the rows do the
// same work per stage, the flags' costs are a stage's: a schedule with v chunks per stage costs
// 1/v of them per chunk (measured per-chunk costs are used as they are, by the schedules with the
// measured run's chunk count).
std::string compare_all(const ScheduleJob& job) {
  std::ostringstream os;
  os << "every schedule at pp=" << job.pp << " micro_batches=" << job.micro_batches << " (v=" << job.v
     << " where it applies)\n"
     << (job.costs.per_chunk.empty()
             ? describe_costs(job, "stage") + "(a schedule with v chunks per stage runs 1/v of them per chunk)\n"
             : describe_costs(job))
     << "\n"
     << format("%-12s %-5s %2s %4s %10s %8s %12s %11s\n", "schedule", "place", "v", "I/W", "makespan", "bubble%",
               "span bubble%", "peak stash");
  for (const ScheduleKind& k : schedule_kinds()) {
    const int v = k.accepts_v(job.v) ? k.chunks_per_stage(job.v) : k.fixed_v > 0 ? k.fixed_v : k.min_v;
    std::string skip;
    Schedule s;
    ActionCosts costs = job.costs;
    if (costs.per_chunk.empty())
      for (double* x : {&costs.f, &costs.b, &costs.i, &costs.w}) *x /= v;
    try {
      s = k.make(job.pp, v, job.micro_batches, costs);
      if (!job.costs.per_chunk.empty() && s.num_chunks() != static_cast<int>(job.costs.per_chunk.size()))
        skip = "the measured costs are for " + std::to_string(job.costs.per_chunk.size()) + " chunks";
    } catch (const Error&) {
      skip = std::string(k.rule) + ", " + k.v_rule();
    }
    const std::string head = format("%-12s %-5s %2d %4s ", std::string(k.name).c_str(),
                                    std::string(placement_name(k.placement)).c_str(), v, k.splits_backward ? "yes" : "no");
    if (!skip.empty()) {
      os << head << "  -- not run: " << skip << "\n";
      continue;
    }
    const Analysis a = analyze(s, costs);
    os << head
       << format("%10.3f %7.2f%% %11.2f%% %11d\n", a.makespan, 100.0 * step_bubble(a), 100.0 * span_bubble(a),
                 *std::max_element(a.peak_stash.begin(), a.peak_stash.end()));
  }
  os << "bubble%: idle share of the step (trident's steps synchronise); span bubble%: idle share inside the longest\n"
        "stage span (the zero-bubble papers' measure, steps overlapping); peak stash: chunk activations held at once\n";
  return os.str();
}

std::string run_auto(const ScheduleJob& job) {
  const AutoScheduleResult& r = job.automatic;
  const AutoScheduleOptions& o = job.auto_options;
  std::ostringstream os;
  os << "automatic scheduler: pp=" << o.pp << " v=" << o.v << " placement=" << placement_name(o.placement)
     << " micro_batches=" << o.micro_batches << " memory cap "
     << (o.memory_cap > 0 ? std::to_string(o.memory_cap) + " chunk activations per stage" : std::string("none")) << "\n"
     << format("  %d candidates (heuristic variants and the handcrafted schedules that fit): best makespan %.4g\n",
               r.variants, r.heuristic_makespan);
  const int actions = 3 * o.micro_batches * o.pp * o.v;
  if (r.nodes == 0)
    os << "  exact search: not run (" << actions << " actions; it runs up to " << o.exact_max_actions
       << " with positive costs)\n";
  else if (r.optimal)
    os << format("  exact search: optimal — nothing in the searched space is shorter (%lld nodes); makespan %.4g\n",
                 static_cast<long long>(r.nodes), r.makespan);
  else
    os << format("  exact search: stopped after %lld nodes; best makespan %.4g, lower bound %.4g\n",
                 static_cast<long long>(r.nodes), r.makespan, r.lower_bound);
  os << "\n" << show(r.schedule, job);
  return os.str();
}

int run_schedule(const ScheduleJob& job) {
  std::string out;
  switch (job.mode) {
    case Mode::kAll: out = compare_all(job); break;
    case Mode::kAuto: out = run_auto(job); break;
    case Mode::kOne: out = show(job.schedule, job); break;
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

// "gpipe, 1f1b, …": every registered name, for the help and the error.
std::string name_list() {
  std::string out;
  for (std::string_view n : schedule_names()) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

ActionCosts costs_from_flags(const po::variables_map& vm) {
  ActionCosts c;
  c.f = vm["f"].as<double>();
  c.b = vm["b"].as<double>();
  c.i = vm["i"].as<double>();
  c.w = vm["w"].as<double>();
  c.p2p = vm["p2p"].as<double>();
  c.recv = vm["recv"].as<double>();
  for (const double x : {c.f, c.b, c.i, c.w, c.p2p, c.recv})
    TRIDENT_CHECK(std::isfinite(x) && x >= 0.0, "--f, --b, --i, --w, --p2p and --recv must be non-negative, got ", x);
  return c;
}

}  // namespace

Command make_schedule_command() {
  Command c;
  c.name = "schedule";
  c.summary = "generate, load or search for a pipeline schedule, validate it, and print the analyzer's timeline";
  c.declare = [](po::options_description& d) {
    d.add_options()
      ("name", po::value<std::string>()->default_value("1f1b"), ("one of " + name_list()).c_str())
      ("file", po::value<std::string>(), "load a schedule in text form instead of generating one")
      ("all", po::bool_switch(), "compare every schedule at these pp, v, micro-batches and costs")
      ("auto", po::bool_switch(), "search for the shortest schedule under --memory-cap (the automatic scheduler)")
      ("pp", po::value<int>()->default_value(4), "pipeline stages")
      ("v", po::value<int>()->default_value(2), "chunks per stage (interleaved, looped-bfs; --auto: 1 unless given)")
      ("placement", po::value<std::string>()->default_value("loop"), "--auto: loop, or v (v=2, stage r holds r and 2pp-1-r)")
      ("micro-batches", po::value<int>()->default_value(8), "micro-batches per step")
      ("memory-cap", po::value<int>()->default_value(0), "--auto: most chunk activations a stage may hold (0: no cap)")
      ("search-nodes", po::value<long long>()->default_value(2'000'000), "--auto: exact-search budget (0: heuristic only)")
      ("f", po::value<double>()->default_value(1.0), "cost of a forward of one chunk")
      ("b", po::value<double>()->default_value(2.0), "cost of a full backward of one chunk")
      ("i", po::value<double>()->default_value(1.0), "cost of an input-gradient backward (I)")
      ("w", po::value<double>()->default_value(1.0), "cost of a weight-gradient backward (W)")
      ("p2p", po::value<double>()->default_value(0.0), "point-to-point latency")
      ("recv", po::value<double>()->default_value(0.0), "time a receive holds its stage (receives not posted ahead)")
      ("costs-trace", po::value<std::string>()->default_value(""),
       "per-chunk F/B/I/W from a run's trace.json (in ms; replaces --f --b --i --w)")
      ("unit", po::value<double>()->default_value(0.0), "time per character of the ASCII timeline (0: fit ~120)")
      ("save", po::value<std::string>()->default_value(""), "write the schedule's text form here")
      ("trace", po::value<std::string>()->default_value(""), "write a Chrome trace of the timeline here");
  };
  c.prepare_local = [](const po::variables_map& vm) -> Command::LocalJob {
    ScheduleJob job;
    const bool all = vm["all"].as<bool>(), automatic = vm["auto"].as<bool>();
    TRIDENT_CHECK(!(all && automatic) && !((all || automatic) && vm.count("file")),
                  "--all, --auto and --file each choose what to show: give one of them");
    job.mode = all ? Mode::kAll : automatic ? Mode::kAuto : Mode::kOne;
    job.name = vm["name"].as<std::string>();
    if (vm.count("file")) job.file = vm["file"].as<std::string>();
    job.pp = vm["pp"].as<int>();
    job.v = vm["v"].as<int>();
    job.micro_batches = vm["micro-batches"].as<int>();
    TRIDENT_CHECK(job.pp >= 1 && job.v >= 1 && job.micro_batches >= 1, "--pp, --v and --micro-batches must be at ",
                  "least 1, got ", job.pp, ", ", job.v, ", ", job.micro_batches);
    if (job.mode == Mode::kOne && job.file.empty())
      TRIDENT_CHECK(find_schedule_kind(job.name) != nullptr, "--name ", job.name, " is not a schedule: use one of ",
                    name_list(), " (or --file, --auto)");
    job.costs = costs_from_flags(vm);
    if (const std::string path = vm["costs-trace"].as<std::string>(); !path.empty()) {
      MeasuredCosts measured = costs_from_trace(path);
      measured.costs.p2p = job.costs.p2p;
      measured.costs.recv = job.costs.recv;
      job.costs = measured.costs;
      job.cost_notes = measured.notes;
      job.cost_source = "measured by " + path + ", ms";
    }
    AutoScheduleOptions& o = job.auto_options;
    o.pp = job.pp;
    o.micro_batches = job.micro_batches;
    o.placement = parse_placement(vm["placement"].as<std::string>());
    // --v defaults to 2 for the interleaved schedules; the search defaults to one chunk per stage.
    o.v = o.placement == Placement::kVShape ? 2 : vm["v"].defaulted() ? 1 : job.v;
    TRIDENT_CHECK(!automatic || o.placement == Placement::kLoop || job.v == 2 || vm["v"].defaulted(),
                  "--placement v holds 2 chunks per stage: drop --v or set it to 2");
    o.costs = job.costs;
    o.memory_cap = vm["memory-cap"].as<int>();
    TRIDENT_CHECK(o.memory_cap >= 0, "--memory-cap must be 0 (no cap) or a positive number of chunk activations");
    o.search_nodes = vm["search-nodes"].as<long long>();
    TRIDENT_CHECK(o.search_nodes >= 0, "--search-nodes must be 0 or more");
    if (automatic) {
      TRIDENT_CHECK(job.costs.per_chunk.empty() || static_cast<int>(job.costs.per_chunk.size()) == o.pp * o.v,
                    "--costs-trace measured ", job.costs.per_chunk.size(), " chunks but --auto asks for pp·v = ",
                    o.pp * o.v, ": use a trace of a run with the same chunks");
      if (vm.count("name") && !vm["name"].defaulted()) o.name = job.name;
    }
    // Building (or searching for) the schedule is the check of the flags that describe it.
    if (job.mode == Mode::kOne) {
      // Measured costs must cover the schedule's chunks (checked before a cost-aware one is built).
      auto check_chunks = [&](int chunks) {
        TRIDENT_CHECK(job.costs.per_chunk.empty() || static_cast<int>(job.costs.per_chunk.size()) == chunks,
                      "--costs-trace measured ", job.costs.per_chunk.size(), " chunks but the schedule has ", chunks,
                      " (pp·v): use a trace of a run with the same chunks");
      };
      if (job.file.empty()) {
        const ScheduleKind& kind = *find_schedule_kind(job.name);
        if (kind.accepts_v(job.v)) check_chunks(job.pp * kind.chunks_per_stage(job.v));
        job.schedule = make_schedule(job.name, job.pp, job.v, job.micro_batches, job.costs);
      } else {
        job.schedule = Schedule::load(job.file);
      }
      check_valid(job.schedule);
      check_chunks(job.schedule.num_chunks());
    }
    if (automatic) job.automatic = auto_schedule(o);
    job.unit = vm["unit"].as<double>();
    TRIDENT_CHECK(job.unit >= 0, "--unit must be positive (or 0 to fit the timeline), got ", job.unit);
    job.save = vm["save"].as<std::string>();
    job.trace = vm["trace"].as<std::string>();
    return [job] { return run_schedule(job); };
  };
  return c;
}

}  // namespace trident
