// Data-parallel weak scaling. Run on two ranks: experiments/launch/launch.sh 2 build/bench/bench_data_parallel
//
// BM_DpScaling/dp:D[/overlap:0] — full Trainer steps (forward, backward, bucketed gradient
//   all-reduce, AdamW) of the `mini` model (L4 h256 nh8 S256 V4096, random tokens in [0, 4096)) at
//   pp = tp = 1, with the same batch on every rank (m = 2 micro-batches of 2 sequences), one OpenBLAS
//   thread per rank and the default 4 MB buckets; gradient reduction overlapped with the backward
//   unless overlap:0. dp:1 trains on rank 0 alone (rank 1 idles through the same loop); dp:2 on both
//   ranks, one replica each. The work per rank is the same, so ideally the step time is too (weak
//   scaling). Time: the step's time (the slowest rank's) over kTimedSteps = 20 steps after a warm-up step
//   (the whole program takes about half a minute).
//   step_ms                mean step time.
//   tokens_per_s_per_rank  tokens one rank trains on per second.
//   efficiency             (dp >= 2) step_ms of dp:1 (registered first, so measured before) / this
//                          step_ms: 1 is perfect scaling.
//   dp_exposed_ms          (dp >= 2) time per step spent inside DP communication calls — launching,
//                          polling and waiting for the bucket all-reduces (DataParallel::comm_seconds())
//                          — on the rank that spent the least, mean over steps: the part of the
//                          reduction the backward did not hide. The least, not the most: the rank that
//                          finishes its backward first waits in the reduction for the other, and that
//                          wait is skew between ranks (noise from other processes on a shared machine
//                          is most of it), not communication; the rank arriving last waits only for the
//                          reduction itself. Not the record's comm_s.dp either, which counts waits only:
//                          Open MPI advances a non-blocking all-reduce only inside MPI calls, so the
//                          reduction work done in the polls during the backward is the rank's too.
//   dp_total_ms            (dp >= 2) the same reduction with nothing to overlap, right after the timed
//                          steps: every bucket launched and waited for on the same buffers, as the
//                          step's finish_grad_reduce() does with overlap off (slowest rank after a
//                          barrier, median of kTotalRounds rounds: one round is ~10 ms, so a single
//                          preemption would swing a mean): everything there was to hide.
//   hidden_frac            (dp >= 2) 1 − dp_exposed_ms / dp_total_ms, clamped to [0, 1]; about 0 with
//                          overlap off, by construction.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/mpi_bench.h"
#include "core/cpu/blas_threads.h"
#include "experiments/data/token_file.h"
#include "experiments/train/trainer.h"

namespace trident {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kMicroBatches = 2, kMicroBatchSize = 2;
constexpr int kTimedSteps = 20;
constexpr int kTotalRounds = 11;  // odd: the median is one round

Communicator* g_world = nullptr;
std::string g_data_dir;
double g_dp1_step_s = 0.0;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

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

TrainConfig make_config(int dp, bool overlap) {
  TrainConfig c;
  c.model = GptConfig::mini();
  c.layout.dp = dp;
  c.layout.pp = 1;
  c.layout.tp = 1;
  c.layout.micro_batches = kMicroBatches;
  c.layout.micro_batch_size = kMicroBatchSize;
  c.layout.overlap_grad_reduce = overlap;
  c.steps = 100;
  c.eval_interval = 0;
  c.peak_flops = 1e12;  // MFU is not reported here; skips the probe
  c.data.train = (fs::path(g_data_dir) / "train.bin").string();
  c.data.val = (fs::path(g_data_dir) / "val.bin").string();
  return c;
}

// The smallest value over the world's ranks.
double min_over_ranks(double value) { return -bench::max_over_ranks(-value); }

// The step's gradient reduction with nothing to overlap: every bucket's all-reduce launched on its
// grads buffer and waited for through DataParallel itself (a step of one contribution, finished at
// once), so it is the same code, message sizes and polling as the step's — blocking all-reduces one
// bucket at a time would time a different pattern. Seconds per round, slowest rank, median over rounds.
// Called by every world rank; those without a trainer contribute 0. Leaves the gradients averaged
// again, which the next step's zero_grads() discards.
double total_reduce_seconds(Trainer* trainer) {
  std::vector<double> rounds;
  for (int round = 0; round < kTotalRounds; ++round) {
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
  std::nth_element(rounds.begin(), rounds.begin() + kTotalRounds / 2, rounds.end());
  return rounds[kTotalRounds / 2];
}

void BM_DpScaling(benchmark::State& state, int dp, bool overlap) {
  // The first `dp` world ranks form the job; the others get no group and idle through the loop.
  std::unique_ptr<Communicator> job = g_world->split(g_world->rank() < dp ? 0 : -1, g_world->rank(), "job");
  std::optional<Trainer> trainer;
  const TrainConfig config = make_config(dp, overlap);
  if (job) trainer.emplace(config, *job, config.data.train, config.data.val);

  // One step: {step time (the slowest rank's), time in DP communication calls (the least any rank spent)}.
  auto step = [&]() -> std::pair<double, double> {
    // Ranks without a trainer take part in the reductions without counting: 0 under max, +inf under min.
    // They wait spinning in MPI_Allreduce, on their own core: waiting in a sleeping barrier instead
    // made dp:1 about 8% slower on the 2-vCPU VM this was written on (the wake-ups cost rank 0).
    double t = 0.0, comm = std::numeric_limits<double>::infinity();
    if (trainer) {
      t = trainer->train_step()["step_time_s"].get<double>();
      comm = trainer->data_parallel().comm_seconds();
    }
    return {bench::max_over_ranks(t), min_over_ranks(comm)};
  };
  step();  // warm-up: first-touch allocations, MPI connections, BLAS buffers

  double step_sum = 0.0, comm_sum = 0.0;
  for (auto _ : state) {
    const auto [t, comm] = step();
    step_sum += t;
    comm_sum += comm;
    state.SetIterationTime(t);
  }
  const double n = static_cast<double>(state.iterations());
  const double step_s = step_sum / n;
  if (dp == 1) g_dp1_step_s = step_s;
  state.counters["step_ms"] = step_s * 1e3;
  state.counters["tokens_per_s_per_rank"] =
      static_cast<double>(kMicroBatches * kMicroBatchSize * config.model.seq_len) / step_s;
  if (dp < 2) return;
  const double exposed = comm_sum / n;
  const double total = total_reduce_seconds(trainer ? &*trainer : nullptr);
  state.counters["efficiency"] = g_dp1_step_s > 0 ? g_dp1_step_s / step_s : 0.0;
  state.counters["dp_exposed_ms"] = exposed * 1e3;
  state.counters["dp_total_ms"] = total * 1e3;
  state.counters["hidden_frac"] = total > 0 ? std::clamp(1.0 - exposed / total, 0.0, 1.0) : 0.0;
}

void register_all(Communicator& world) {
  g_world = &world;
  if (world.size() < 2) return;  // dp:2 needs two ranks
  set_blas_threads(1);           // one core per rank: dp:1 uses one core, dp:2 both
  write_data(world);
  static const DataDirCleanup cleanup{world.rank() == 0 ? g_data_dir : std::string()};
  struct Variant {
    const char* name;
    int dp;
    bool overlap;
  };
  // dp:1 first: the dp:2 variants' efficiency divides by its step time.
  for (const Variant& v : {Variant{"BM_DpScaling/dp:1", 1, true}, Variant{"BM_DpScaling/dp:2", 2, true},
                           Variant{"BM_DpScaling/dp:2/overlap:0", 2, false}})
    benchmark::RegisterBenchmark(v.name, BM_DpScaling, v.dp, v.overlap)
        ->UseManualTime()
        ->Iterations(kTimedSteps)
        ->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) {
  return trident::bench::run_mpi_benchmarks(argc, argv, "bench_data_parallel", trident::register_all);
}
