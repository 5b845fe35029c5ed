// Running a sweep: every point not yet complete runs through the launcher, one results row per
// finished point (ok, failed or timed out: the sweep goes on), progress with an ETA, then the
// spec's plots. Re-running the same spec (same --out) skips the points already complete, by
// config hash, so an interrupted sweep resumes where it stopped.
#pragma once

#include <string>
#include <vector>

#include "experiments/sweeps/sweep_points.h"
#include "experiments/sweeps/sweep_spec.h"

namespace trident {

struct SweepOptions {
  std::string out_dir;
  std::string launcher;  // local | slurm
  std::string trident;   // the executable points run (and that draws the plots)
  bool dry_run = false;  // list the points and what a run would do; run nothing
};

// Returns 0 when every point is ok, 1 when some failed or timed out (their rows say why), 130 when
// interrupted (the results files hold every point finished before).
int run_sweep(const SweepSpec& spec, const std::vector<SweepPoint>& points, const SweepOptions& options);

}  // namespace trident
