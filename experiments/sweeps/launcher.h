// Launchers: how a point's `trident train` run is started and waited for.
//   local  one point at a time on this machine: `mpirun` with experiments/launch/launch.sh's flags,
//          in a process group of its own, killed at the spec's timeout_s.
//   slurm  one sbatch script per point (<dir>/job.sbatch: nodes and tasks per node from the point's
//          rank count and gpus_per_node, the same mpirun command line, `timeout` around it), all
//          submitted at once (or slurm.max_jobs at a time); a point ends when its script writes
//          <dir>/exit_status, or when squeue no longer lists its job.
// Both run `trident train --config <dir>/config.json` with output in <dir>/train.log.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiments/sweeps/results.h"
#include "experiments/sweeps/sweep_points.h"
#include "experiments/sweeps/sweep_spec.h"

namespace trident {

struct LaunchEnd {
  int index = 0;  // the point's index
  PointOutcome outcome;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual int slots() const = 0;  // points in flight at once
  // Starts the run of `point`, whose <dir>/config.json is written.
  virtual void start(const SweepPoint& point) = 0;
  // Blocks until a started point ends; nullopt when the sweep was interrupted (SIGINT/SIGTERM).
  virtual std::optional<LaunchEnd> wait_any() = 0;
  // What an interrupted sweep leaves behind, for the message ("3 jobs stay queued").
  virtual std::string on_interrupt() = 0;
};

// `trident` is the executable the points run (this one: /proc/self/exe).
std::unique_ptr<Launcher> make_local_launcher(const std::string& trident, double timeout_s);
std::unique_ptr<Launcher> make_slurm_launcher(const SweepSpec& spec, const std::string& trident);

// The mpirun command line of a point (launch.sh's flags; `threads` is OPENBLAS_NUM_THREADS, a
// number or a shell word such as "$threads").
std::vector<std::string> mpirun_command(const SweepPoint& point, const std::string& trident, const std::string& threads);

// The reason a run failed, from its log: the last "error:" line (trident's own messages, or
// mpirun's), else the last non-empty line; at most ~300 characters.
std::string error_from_log(const std::string& log_path);

// Removes what an earlier attempt left in a point's folder (summary, trace, metrics, log, exit
// status, simulation), so nothing stale is read as this attempt's result.
void clear_run_outputs(const SweepPoint& point);

// How a finished run is recorded: exit 0 with a summary.json is ok; exit 124 a timeout; anything
// else failed, with the reason from its log.
PointOutcome outcome_of(const SweepPoint& point, int exit_code, double wall_s, double timeout_s);

}  // namespace trident
