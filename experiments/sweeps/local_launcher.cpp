// The local launcher and what both launchers share: the mpirun command line, reading a run's end.
#include <sched.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "experiments/sweeps/child_process.h"
#include "experiments/sweeps/launcher.h"

namespace trident {

namespace fs = std::filesystem;

std::vector<std::string> mpirun_command(const SweepPoint& point, const std::string& trident, const std::string& threads) {
  return {"mpirun", "-q", "-np", std::to_string(point.world_size), "--oversubscribe", "--bind-to", "none", "--map-by", "slot",
          "-x", "OPENBLAS_NUM_THREADS=" + threads, trident, "train", "--config",
          (fs::path(point.dir) / "config.json").string()};
}

std::string error_from_log(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, last, error;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    last = line;
    if (line.find("error:") != std::string::npos) error = line;
  }
  std::string why = error.empty() ? last : error;
  if (why.size() > 300) why = why.substr(0, 297) + "...";
  return why.empty() ? "no output (see " + log_path + ")" : why;
}

void clear_run_outputs(const SweepPoint& point) {
  for (const char* name : {"summary.json", "trace.json", "metrics.jsonl", "train.log", "exit_status", "sim.json"})
    fs::remove(fs::path(point.dir) / name);
}

PointOutcome outcome_of(const SweepPoint& point, int exit_code, double wall_s, double timeout_s) {
  PointOutcome o;
  o.exit_code = exit_code;
  o.wall_s = wall_s;
  const std::string log = (fs::path(point.dir) / "train.log").string();
  if (exit_code == 124) {
    o.status = "timeout";
    o.error = "timed out after " + std::to_string(static_cast<long long>(timeout_s)) + " s (timeout_s; see " + log + ")";
  } else if (exit_code != 0) {
    o.status = "failed";
    o.error = error_from_log(log);
  } else if (!fs::exists(fs::path(point.dir) / "summary.json")) {
    o.status = "failed";
    o.error = "the run exited 0 but wrote no summary.json (see " + log + ")";
  } else {
    o.status = "ok";
  }
  return o;
}

namespace {

// OpenBLAS threads per rank as launch.sh chooses them: the cores this process may use shared by
// the ranks, at least one; OPENBLAS_NUM_THREADS wins when set.
std::string blas_threads(int ranks) {
  if (const char* set = std::getenv("OPENBLAS_NUM_THREADS"); set != nullptr && *set != '\0') return set;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int cores = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return std::to_string(ranks >= cores ? 1 : cores / ranks);
}

class LocalLauncher final : public Launcher {
 public:
  LocalLauncher(std::string trident, double timeout_s) : trident_(std::move(trident)), timeout_s_(timeout_s) {}

  int slots() const override { return 1; }

  void start(const SweepPoint& point) override {
    TRIDENT_CHECK(!running_, "the local launcher runs one point at a time");
    clear_run_outputs(point);
    const auto argv = mpirun_command(point, trident_, blas_threads(point.world_size));
    const auto env = child_environment({{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}});
    child_.emplace(argv, env, (fs::path(point.dir) / "train.log").string());
    running_ = &point;
  }

  std::optional<LaunchEnd> wait_any() override {
    TRIDENT_CHECK(running_ != nullptr, "wait_any: no point is running");
    const ChildResult r = child_->wait(timeout_s_);
    child_.reset();
    const SweepPoint& point = *running_;
    running_ = nullptr;
    if (r.interrupted) return std::nullopt;
    return LaunchEnd{point.index, outcome_of(point, r.exit_code, r.wall_s, timeout_s_)};
  }

  std::string on_interrupt() override { return "the running point was stopped"; }

 private:
  std::string trident_;
  double timeout_s_;
  std::optional<ChildProcess> child_;
  const SweepPoint* running_ = nullptr;
};

}  // namespace

std::unique_ptr<Launcher> make_local_launcher(const std::string& trident, double timeout_s) {
  return std::make_unique<LocalLauncher>(trident, timeout_s);
}

}  // namespace trident
