// Data-parallel weak scaling and ZeRO. Run on two ranks: experiments/launch/launch.sh 2 build/bench/bench_data_parallel
//
// BM_Dp/<model>/dp:D[/overlap:0][/zero:Z] — full Trainer steps (forward, backward, gradient
//   reduction, AdamW) at pp = tp = 1, the same batch shapes on every rank, one OpenBLAS thread per
//   rank, the default 4 MiB buckets. dp:1 trains on rank 0 alone (rank 1 idles through the same loop,
//   spinning in MPI on its own core); dp:2 on both ranks, one replica each. The work per rank is the
//   same, so ideally the step time is too (weak scaling). Models:
//     mini  L4 h256 nh8 S256 V4096, m = 2 micro-batches of 2 sequences: compute-bound
//     comm  the same weights at S64, m = 1 of 2 sequences: 1/8 of mini's compute per step for the
//           same 17 MiB of gradients, so communication matters
//   pytorch_ddp_peer.py measures PyTorch DDP (gloo) on the same shapes.
// Time: the step's time (the slowest rank's, StepRecord::step_time_s) over kTimedSteps steps after
// a warm-up step. Counters:
//   step_ms           mean step time
//   efficiency        (dp:2) step_ms of the model's dp:1 (registered first) / this step_ms: 1 is
//                     perfect scaling
//   dp_comm_ms        (dp:2) DP communication per step: the time the DP group's reductions (and ZeRO-3
//                     gathers) were in progress, overlapped or not (StepRecord comm_s.dp, slowest rank)
//   dp_exposed_ms     (dp:2) the time the computation waited for them, on the rank that waited least,
//                     mean over steps: the part the backward did not hide. The least, not the most: the
//                     rank that finishes its backward first also waits for the other to arrive, which
//                     is skew between ranks (noise from other processes on a shared machine is most of
//                     it), not communication. dp_exposed_max_ms is the most-waiting rank's, for scale.
//   dp_alone_ms       (dp:2, ZeRO-0/1) the step's reduction with nothing to overlap, right after the
//                     timed steps: every bucket launched and waited for on the same buffers after a
//                     barrier (slowest rank, median of kAloneRounds rounds): everything there was to hide
//   exposed_frac      (dp:2) dp_exposed_ms / dp_alone_ms (ZeRO-2/3: / dp_comm_ms); target <= 0.30
//   model_state_mib   weights + gradients + optimizer state per rank (the peak's breakdown)
//   peak_mib          peak tracked memory per rank
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/mpi_bench.h"
#include "core/cpu/blas_threads.h"
#include "experiments/data/token_file.h"
#include "experiments/train/trainer.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kTimedSteps = 20;
constexpr int kAloneRounds = 11;  // odd: the median is one round

struct Model {
  const char* name;
  GptConfig config;
  int micro_batches, micro_batch_size;
};

Model mini_model() { return {"mini", GptConfig::mini(), 2, 2}; }
Model comm_model() {
  GptConfig c = GptConfig::mini();
  c.seq_len = 64;
  return {"comm", c, 1, 2};
}

Communicator* g_world = nullptr;
std::string g_data_dir;
std::map<std::string, double> g_dp1_step_s;  // per model

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double min_over_ranks(double value) { return -bench::max_over_ranks(-value); }

// Removes the token files when the program ends (a static outlives every benchmark run).
struct DataDirCleanup {
  std::string dir;  // empty on the ranks that did not write it
  ~DataDirCleanup() {
    std::error_code ignored;
    if (!dir.empty()) fs::remove_all(dir, ignored);
  }
};

// Uniform random tokens: the model's cost does not depend on what it reads, only on the shapes.
// Rank 0 writes them to a directory named after its pid (unique per run); the others wait.
void write_data(Communicator& world) {
  Tensor pid = Tensor::empty({1}, DType::kI32);
  pid.data<std::int32_t>()[0] = getpid();
  world.broadcast(pid, 0);
  g_data_dir = (fs::temp_directory_path() / ("trident_bench_dp_" + std::to_string(pid.data<std::int32_t>()[0])))
                   .string();
  if (world.rank() == 0) {
    fs::create_directories(g_data_dir);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> token(0, static_cast<int>(GptConfig::mini().vocab) - 1);
    for (const char* split : {"train", "val"}) {
      std::vector<std::uint16_t> tokens(1 << 16);  // 255 windows of 257 tokens: no epoch ends in a run
      for (std::uint16_t& t : tokens) t = static_cast<std::uint16_t>(token(rng));
      write_token_file((fs::path(g_data_dir) / (std::string(split) + ".bin")).string(), tokens);
    }
  }
  world.barrier();
}

TrainConfig make_config(const Model& m, int dp, bool overlap, int zero) {
  TrainConfig c;
  c.model = m.config;
  c.layout.dp = dp;
  c.layout.pp = 1;
  c.layout.tp = 1;
  c.layout.micro_batches = m.micro_batches;
  c.layout.micro_batch_size = m.micro_batch_size;
  c.layout.overlap_grad_reduce = overlap;
  c.layout.zero = zero;
  c.steps = 100;
  c.eval_interval = 0;
  c.peak_flops = 1e12;  // MFU is not reported here; skips the probe
  c.data.train = (fs::path(g_data_dir) / "train.bin").string();
  c.data.val = (fs::path(g_data_dir) / "val.bin").string();
  return c;
}

// The step's gradient reduction with nothing to overlap (ZeRO-0/1): every bucket's reduction
// launched and waited for through DataParallel itself (a step finished at once), so it is the same
// code, message sizes and thread as the step's. Seconds per round, slowest rank, median over rounds.
// Called by every world rank; those without a trainer contribute 0. Leaves the gradients reduced
// again, which the next step's zero_grads() discards.
double alone_reduce_seconds(Trainer* trainer) {
  std::vector<double> rounds;
  for (int round = 0; round < kAloneRounds; ++round) {
    double t = 0.0;
    if (trainer) {
      DataParallel& dp = trainer->data_parallel();
      trainer->mesh().dp_group().barrier();  // start together: a rank's time is the reduction's alone
      dp.start_step();
      const Clock::time_point t0 = Clock::now();
      dp.finish_grad_reduce();
      t = since(t0);
    }
    rounds.push_back(bench::max_over_ranks(t));
  }
  std::nth_element(rounds.begin(), rounds.begin() + kAloneRounds / 2, rounds.end());
  return rounds[kAloneRounds / 2];
}

void BM_Dp(benchmark::State& state, Model model, int dp, bool overlap, int zero) {
  // The first `dp` world ranks form the job; the others get no group and idle through the loop.
  std::unique_ptr<Communicator> job = g_world->split(g_world->rank() < dp ? 0 : -1, g_world->rank(), "job");
  std::optional<Trainer> trainer;
  if (job) trainer.emplace(resolve_plan(make_config(model, dp, overlap, zero)), *job);

  struct Step {
    double time = 0, comm = 0, exposed_min = 0, exposed_max = 0;
  };
  // Ranks without a trainer take part in the reductions without counting: 0 under max, +inf under
  // min. They wait spinning in MPI_Allreduce, on their own core: waiting in a sleeping barrier instead
  // made dp:1 about 8% slower on the 2-vCPU VM this was written on (the wake-ups cost rank 0).
  StepRecord last;
  auto step = [&]() {
    double t = 0.0, comm = 0.0, exposed = 0.0;
    if (trainer) {
      last = trainer->train_step();
      t = last.step_time_s, comm = last.comm_s.dp, exposed = trainer->data_parallel().exposed_seconds();
    }
    return Step{bench::max_over_ranks(t), bench::max_over_ranks(comm),
                min_over_ranks(trainer ? exposed : std::numeric_limits<double>::infinity()),
                bench::max_over_ranks(exposed)};
  };
  step();  // warm-up: first-touch allocations, MPI connections, BLAS buffers, the comm thread

  Step sum;
  for (auto _ : state) {
    const Step s = step();
    sum.time += s.time, sum.comm += s.comm, sum.exposed_min += s.exposed_min, sum.exposed_max += s.exposed_max;
    state.SetIterationTime(s.time);
  }
  const double n = static_cast<double>(state.iterations());
  const double step_s = sum.time / n;
  if (dp == 1) g_dp1_step_s[model.name] = step_s;
  state.counters["step_ms"] = step_s * 1e3;
  const MemoryAtPeak& m = last.peak_mem_breakdown;
  state.counters["model_state_mib"] =
      bench::max_over_ranks(static_cast<double>(m.weights + m.gradients + m.optimizer_state)) / (1 << 20);
  state.counters["peak_mib"] = bench::max_over_ranks(static_cast<double>(last.peak_mem_max)) / (1 << 20);
  if (dp < 2) return;
  const double alone = zero <= 1 ? alone_reduce_seconds(trainer ? &*trainer : nullptr) : 0.0;
  const double exposed = sum.exposed_min / n, comm = sum.comm / n;
  state.counters["efficiency"] = g_dp1_step_s.count(model.name) ? g_dp1_step_s[model.name] / step_s : 0.0;
  state.counters["dp_comm_ms"] = comm * 1e3;
  state.counters["dp_exposed_ms"] = exposed * 1e3;
  state.counters["dp_exposed_max_ms"] = sum.exposed_max / n * 1e3;
  if (zero <= 1) state.counters["dp_alone_ms"] = alone * 1e3;
  const double base = zero <= 1 ? alone : comm;
  state.counters["exposed_frac"] = base > 0 ? exposed / base : 0.0;
}

void register_all(Communicator& world) {
  g_world = &world;
  if (world.size() < 2) return;  // dp:2 needs two ranks
  set_blas_threads(1);           // one core per rank: dp:1 uses one core, dp:2 both
  write_data(world);
  static const DataDirCleanup cleanup{world.rank() == 0 ? g_data_dir : std::string()};
  struct Variant {
    Model model;
    int dp;
    bool overlap;
    int zero;
  };
  // Each model's dp:1 first: its dp:2 variants' efficiency divides by its step time.
  const std::vector<Variant> variants = {
      {mini_model(), 1, true, 0}, {mini_model(), 2, true, 0}, {mini_model(), 2, false, 0},
      {mini_model(), 2, true, 1}, {mini_model(), 2, true, 2}, {mini_model(), 2, true, 3},
      {comm_model(), 1, true, 0}, {comm_model(), 2, true, 0}, {comm_model(), 2, false, 0},
  };
  for (const Variant& v : variants) {
    std::string name = std::string("BM_Dp/") + v.model.name + "/dp:" + std::to_string(v.dp);
    if (!v.overlap) name += "/overlap:0";
    if (v.zero > 0) name += "/zero:" + std::to_string(v.zero);
    benchmark::RegisterBenchmark(name.c_str(), BM_Dp, v.model, v.dp, v.overlap, v.zero)
        ->UseManualTime()
        ->Iterations(kTimedSteps)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) {
  return trident::bench::run_mpi_benchmarks(argc, argv, "bench_data_parallel", trident::register_all);
}
