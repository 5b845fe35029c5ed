// The slurm launcher: a batch script per point, submitted with `sbatch --parsable`; results are
// collected as scripts finish. A job id is kept in <dir>/slurm_job_id, so a re-run sweep adopts a
// point's job that is still queued or running instead of submitting it twice.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "experiments/sweeps/child_process.h"
#include "experiments/sweeps/launcher.h"

namespace trident {

namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& word) {
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && ::access((fs::path(d) / program).c_str(), X_OK) == 0) return true;
  return false;
}

struct InFlight {
  const SweepPoint* point = nullptr;
  std::string job_id;
  double since = 0;  // monotonic time it was submitted or adopted
};

class SlurmLauncher final : public Launcher {
 public:
  SlurmLauncher(const SweepSpec& spec, std::string trident)
      : spec_(spec), trident_(std::move(trident)), squeue_(on_path("squeue")) {
    TRIDENT_CHECK(on_path("sbatch"), "launcher slurm: sbatch is not on PATH (run the sweep on a Slurm login node, ",
                  "or use --launcher local)");
  }

  int slots() const override { return spec_.slurm.max_jobs > 0 ? spec_.slurm.max_jobs : 1 << 20; }

  void start(const SweepPoint& point) override {
    const fs::path dir = point.dir;
    // A job an earlier sweep run submitted and never collected (<dir>/slurm_job_id is removed when a
    // result is collected): take its result if it finished, wait for it if it is still queued.
    if (fs::exists(dir / "slurm_job_id")) {
      const std::string id = read_text(dir / "slurm_job_id");
      if (!id.empty() && (fs::exists(dir / "exit_status") || (squeue_ && queued({id}).count(id)))) {
        in_flight_.push_back({&point, id, monotonic_seconds()});
        return;
      }
    }
    clear_run_outputs(point);
    const std::string script = (dir / "job.sbatch").string();
    const std::string text = batch_script(point);
    write_file_atomically(script, {{text.data(), text.size()}}, "job.sbatch");
    std::string out, err;
    const int code = run_and_capture({"sbatch", "--parsable", script}, child_environment(), 120, out, err);
    TRIDENT_CHECK(code == 0, "sbatch ", script, " failed (exit ", code, "): ", err.empty() ? out : err);
    std::string id = out.substr(0, out.find_first_of(";\n"));
    TRIDENT_CHECK(!id.empty(), "sbatch ", script, " printed no job id (expected `sbatch --parsable` output): ", out);
    write_file_atomically((dir / "slurm_job_id").string(), {{id.data(), id.size()}}, "slurm_job_id");
    in_flight_.push_back({&point, id, monotonic_seconds()});
  }

  std::optional<LaunchEnd> wait_any() override {
    TRIDENT_CHECK(!in_flight_.empty(), "wait_any: no job is in flight");
    double next_queue_check = monotonic_seconds() + 30;
    while (!interrupted()) {
      for (std::size_t i = 0; i < in_flight_.size(); ++i)
        if (auto end = finished(in_flight_[i])) return collect(i, *end);
      if (monotonic_seconds() > next_queue_check) {
        if (auto end = vanished()) return end;
        next_queue_check = monotonic_seconds() + 30;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
  }

  std::string on_interrupt() override {
    return std::to_string(in_flight_.size()) + " submitted job(s) stay in Slurm's queue; re-running the sweep collects them";
  }

 private:
  // The job's script wrote its exit status ("<code> <seconds>"): the point ended.
  std::optional<LaunchEnd> finished(const InFlight& f) const {
    const fs::path status = fs::path(f.point->dir) / "exit_status";
    if (!fs::exists(status)) return std::nullopt;
    std::istringstream in(read_text(status));
    int code = -1;
    double wall = 0;
    in >> code >> wall;
    return LaunchEnd{f.point->index, outcome_of(*f.point, code, wall, spec_.timeout_s)};
  }

  // Hands in_flight_[i]'s result to the sweep: the job is no longer one to adopt on a re-run.
  LaunchEnd collect(std::size_t i, const LaunchEnd& end) {
    fs::remove(fs::path(in_flight_[i].point->dir) / "slurm_job_id");
    in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(i));
    return end;
  }

  // A job that left the queue without writing its status (cancelled, killed at its time limit,
  // node failure) or, without squeue, one that is long overdue.
  std::optional<LaunchEnd> vanished() {
    std::set<std::string> ids;
    for (const InFlight& f : in_flight_) ids.insert(f.job_id);
    const std::set<std::string> alive = squeue_ ? queued(ids) : ids;
    for (std::size_t i = 0; i < in_flight_.size(); ++i) {
      const InFlight f = in_flight_[i];
      const bool overdue = !squeue_ && monotonic_seconds() - f.since > spec_.timeout_s + 600;
      if ((alive.count(f.job_id) && !overdue) || finished(f)) continue;
      PointOutcome o;
      o.status = "failed";
      o.exit_code = -1;
      o.wall_s = monotonic_seconds() - f.since;
      o.error = overdue ? "job " + f.job_id + " wrote no exit status within timeout_s + 600 s (no squeue to ask)"
                        : "job " + f.job_id + " left the queue without an exit status (cancelled, time limit or node " +
                              "failure?); see " + f.point->dir + "/slurm-" + f.job_id + ".out";
      return collect(i, LaunchEnd{f.point->index, o});
    }
    return std::nullopt;
  }

  // The subset of `ids` squeue still lists (pending or running).
  std::set<std::string> queued(const std::set<std::string>& ids) const {
    std::string list;
    for (const std::string& id : ids) list += (list.empty() ? "" : ",") + id;
    std::string out, err;
    const int code = run_and_capture({"squeue", "-h", "-o", "%i", "-j", list}, child_environment(), 60, out, err);
    if (code != 0) return ids;  // squeue failing (or a job id it no longer knows) proves nothing; ask again later
    std::set<std::string> alive;
    std::istringstream lines(out);
    for (std::string id; lines >> id;)
      if (ids.count(id)) alive.insert(id);
    return alive;
  }

  std::string batch_script(const SweepPoint& p) const {
    const int ranks = p.world_size;
    const int per_node = std::min(ranks, spec_.gpus_per_node);
    const int nodes = (ranks + spec_.gpus_per_node - 1) / spec_.gpus_per_node;
    const bool gpus = p.plan && p.plan->device.is_cuda();
    // Slurm's limit: the sweep's timeout plus start-up, in whole minutes.
    const long minutes = static_cast<long>(std::ceil((spec_.timeout_s + 120.0) / 60.0));
    const fs::path dir = p.dir;
    std::ostringstream s;
    s << "#!/bin/bash\n"
      << "# trident sweep point " << p.index << ": " << p.label << " (config " << p.hash << "), written by\n"
      << "# `trident sweep`; it runs the same command as the local launcher and writes exit_status at the end.\n"
      << "#SBATCH --job-name=trident-" << p.hash.substr(0, 8) << "\n"
      << "#SBATCH --nodes=" << nodes << "\n"
      << "#SBATCH --ntasks=" << ranks << "\n"
      << "#SBATCH --ntasks-per-node=" << per_node << "\n";
    if (gpus) s << "#SBATCH --gpus-per-node=" << per_node << "\n";
    s << "#SBATCH --time=" << minutes << "\n"
      << "#SBATCH --output=" << (dir / "slurm-%j.out").string() << "\n";
    if (!spec_.slurm.partition.empty()) s << "#SBATCH --partition=" << spec_.slurm.partition << "\n";
    if (!spec_.slurm.account.empty()) s << "#SBATCH --account=" << spec_.slurm.account << "\n";
    for (const std::string& a : spec_.slurm.sbatch_args) s << "#SBATCH " << a << "\n";
    s << "set -u\n"
      << "cd " << quoted(fs::current_path().string()) << "\n"
      << "exec >> " << quoted((dir / "train.log").string()) << " 2>&1\n"
      << "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
      << "# OpenBLAS threads per rank: this node's cores shared by its " << per_node << " ranks (as launch.sh).\n"
      << "cores=$(nproc)\n"
      << "threads=${OPENBLAS_NUM_THREADS:-$(( " << per_node << " >= cores ? 1 : cores / " << per_node << " ))}\n"
      << "start=$SECONDS\n"
      << "timeout --kill-after=30 " << static_cast<long>(std::ceil(spec_.timeout_s));
    for (const std::string& w : mpirun_command(p, trident_, "THREADS")) {
      if (w == "OPENBLAS_NUM_THREADS=THREADS") s << " OPENBLAS_NUM_THREADS=\"$threads\"";
      else s << " " << quoted(w);
    }
    const std::string status = (dir / "exit_status").string();
    s << "\ncode=$?\n"
      << "printf '%d %d\\n' \"$code\" \"$((SECONDS - start))\" > " << quoted(status + ".tmp") << " && mv "
      << quoted(status + ".tmp") << " " << quoted(status) << "\n"
      << "exit \"$code\"\n";
    return s.str();
  }

  const SweepSpec& spec_;
  std::string trident_;
  bool squeue_;
  std::vector<InFlight> in_flight_;
};

}  // namespace

std::unique_ptr<Launcher> make_slurm_launcher(const SweepSpec& spec, const std::string& trident) {
  return std::make_unique<SlurmLauncher>(spec, trident);
}

}  // namespace trident
