// Child processes of a sweep: each point's `mpirun` (local launcher), `sbatch` and `squeue` (slurm
// launcher), `trident plot`. A point's job runs in a process group of its own, so a timeout ends
// mpirun and every rank it started; it also gets SIGTERM if the sweep itself dies (killed, or a
// crash), so an interrupted sweep leaves no ranks running behind it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace trident {

// The environment a sweep gives its jobs: its own plus `set` (NAME, value), minus the identity of
// an enclosing MPI job. A sweep is not an MPI process, but it may have been started from one (a
// shell inside `mpirun`, an allocation's batch step); a child mpirun that inherited OMPI_* / PMIX_*
// variables would try to join that job instead of starting its own. So when the sweep runs inside
// one (OMPI_COMM_WORLD_SIZE or PMIX_RANK set), every OMPI_*, PMIX_*, PRTE_* and PMI_* variable is
// dropped except OMPI_ALLOW_RUN_AS_ROOT*; otherwise the user's OMPI_MCA_* settings are kept.
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& set = {});

struct ChildResult {
  int exit_code = -1;   // the child's exit status, or 128 + signal when a signal ended it
  bool timed_out = false;
  bool interrupted = false;  // the sweep got SIGINT/SIGTERM and stopped the child
  double wall_s = 0;
};

class ChildProcess {
 public:
  // Starts argv (argv[0] searched on PATH) with `env`, stdin from /dev/null and stdout + stderr
  // appended to `log_path`. Throws trident::Error when it cannot start.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& log_path);
  ~ChildProcess();  // a child still running is killed (its whole group)
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Blocks until the child exits, `timeout_s` passes or the sweep is interrupted; in the last two
  // cases the child's group gets SIGTERM, then SIGKILL after 10 s.
  ChildResult wait(double timeout_s);

 private:
  void stop();
  int pid_ = -1;
  double start_ = 0;
};

// Runs argv to completion (at most `timeout_s`) and returns its exit code, its stdout in `out`
// and its stderr in `err`. For short commands (sbatch, squeue).
int run_and_capture(const std::vector<std::string>& argv, const std::vector<std::string>& env, double timeout_s,
                    std::string& out, std::string& err);

// SIGINT and SIGTERM set a flag instead of killing the sweep, so it can stop the running point
// and leave its results files whole. Installed once by the sweep.
void install_interrupt_handlers();
bool interrupted();

// Seconds on a monotonic clock.
double monotonic_seconds();

}  // namespace trident
