// Pipeline executor benchmarks. Run on two ranks: experiments/launch/launch.sh 2 build/bench/bench_pipeline
//
// BM_ExecutorOverhead/pp:P — the executor's own cost per action: a 1F1B step of m = 256
//   micro-batches against a stage that computes nothing (pp=1: bookkeeping only; pp=2: plus MPI
//   messages of 4 bytes). ns_per_action, and vs_mini_F = that cost / the mean mini-model F
//   action measured by BM_MiniBubble in the same run (registered first).
// BM_MiniBubble/<schedule> — pp=2 (one rank per stage, one OpenBLAS thread each) on the `mini`
//   model (L4 h256 nh8 S256 V4096), m = 8 micro-batches of one sequence. measured_pct: each rank's
//   bubble, (step time − time in F/B/I/W) / step time with the step time the slowest rank's,
//   averaged over ranks and iterations. predicted_pct: the analyzer's average bubble fraction for
//   the same schedule, from this run's measured per-chunk action costs and point-to-point
//   latency. diff_pp = measured − predicted in percentage points (target |diff_pp| <= 2).
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "bench/mpi_bench.h"
#include "core/cpu/blas_threads.h"
#include "parallel/device_mesh.h"
#include "schedules/analyzer.h"
#include "schedules/executor.h"
#include "schedules/generators.h"
#include "experiments/train/gpt_pipeline_stage.h"
#include "tests/gpt_test_util.h"

namespace trident {
namespace {

Communicator* g_world = nullptr;
double g_mini_f_seconds = 0.0;

// A stage that computes nothing: the executor's cost alone.
class NullStage final : public StageRunner {
 public:
  Shape boundary_shape(int) const override { return {1}; }
  Tensor forward(int, int, const Tensor&) override { return out_; }
  Tensor backward_input(int, int, const Tensor&) override { return out_; }
  void backward_weight(int, int) override {}

 private:
  Tensor out_ = Tensor::zeros({1});
};

// The first `pp` world ranks form the pipeline; the others idle through the same loop.
std::unique_ptr<Communicator> pipeline_group(int pp) {
  return g_world->split(g_world->rank() < pp ? 0 : 1, g_world->rank(), "pp");
}

void BM_ExecutorOverhead(benchmark::State& state) {
  const int pp = static_cast<int>(state.range(0));
  auto group = pipeline_group(pp);
  const bool active = g_world->rank() < pp;
  std::optional<PipelineExecutor> ex;
  if (active) ex.emplace(one_f_one_b(pp, 256), group.get());
  NullStage stage;
  double total = 0.0, actions = 0.0;
  for (auto _ : state) {
    g_world->barrier();
    double t = 0.0;
    if (active) {
      t = ex->run(stage).step_s;
      actions += static_cast<double>(ex->schedule().stages[static_cast<std::size_t>(ex->stage())].size());
    }
    t = bench::max_over_ranks(t);
    total += t;
    state.SetIterationTime(t);
  }
  actions = bench::max_over_ranks(actions);
  const double per_action = actions > 0 ? total / actions : 0.0;
  state.counters["ns_per_action"] = per_action * 1e9;
  state.counters["vs_mini_F"] = g_mini_f_seconds > 0 ? per_action / g_mini_f_seconds : 0.0;
}

// One-way time of a boundary-sized message between ranks 0 and 1 (half a ping-pong round trip).
double p2p_latency(Communicator& pp, const Shape& shape) {
  Tensor x = Tensor::zeros(shape);
  const int peer = 1 - pp.rank();
  const int reps = 20;
  pp.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) {
    if (pp.rank() == 0) {
      pp.send(x, peer, 99).wait();
      pp.recv(x, peer, 99).wait();
    } else {
      pp.recv(x, peer, 99).wait();
      pp.send(x, peer, 99).wait();
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / (2.0 * reps);
}

void BM_MiniBubble(benchmark::State& state, const std::string& name) {
  constexpr int kPp = 2, kMicroBatches = 8;
  set_blas_threads(1);
  auto group = pipeline_group(kPp);
  const bool active = g_world->rank() < kPp;
  const GptConfig c = GptConfig::mini();
  const Schedule s = make_schedule(name, kPp, 2, kMicroBatches);
  std::optional<DeviceMesh> mesh;
  std::optional<GptPipelineStage> stage;
  std::optional<PipelineExecutor> ex;
  std::unique_ptr<GradSync> sync;
  if (active) {
    mesh.emplace(*group, MeshLayout(1, kPp, 1));
    stage.emplace(c, s, mesh->coord().pp, &mesh->tp_group(), TensorParallelOptions{});
    ex.emplace(s, &mesh->pp_group());
    sync = stage->wire_grad_sync(stage->parameters(), &mesh->tp_group(), mesh->embedding_group(), nullptr);
    const Tensor ids = testing_util::random_tokens(kMicroBatches, c, 1, "ids");
    stage->set_batch(ids, testing_util::random_tokens(kMicroBatches, c, 1, "targets"));
  }
  auto step = [&]() -> ExecutionStats {
    g_world->barrier();  // start the ranks together: the bubble is measured from a common start
    if (!active) return {};
    stage->zero_grads();
    sync->start_step(s.micro_batches);
    ExecutionStats st = ex->run(*stage);
    sync->finish();
    return st;
  };
  step();  // warm-up: allocations, MPI connections
  // Per-chunk sums of action durations and counts {f, b, i, w, n_f, n_b, n_i, n_w} over every
  // measured step: the costs the analyzer is given are this run's means.
  std::vector<double> sums(static_cast<std::size_t>(s.num_chunks() * 8), 0.0);
  double bubble_sum = 0.0;
  for (auto _ : state) {
    const ExecutionStats last = step();
    for (const TimedAction& t : last.timeline) {
      if (!t.action.is_compute()) continue;
      const std::size_t k = static_cast<std::size_t>(t.action.chunk * 8 + static_cast<int>(t.action.type));
      sums[k] += t.end - t.start;
      sums[k + 4] += 1.0;
    }
    const double makespan = bench::max_over_ranks(last.step_s);
    double mine = active ? (makespan - last.compute_s) / makespan : 0.0;
    bench::sum_over_ranks(&mine, 1);
    bubble_sum += mine / kPp;
    state.SetIterationTime(makespan);
  }
  const double measured = bubble_sum / static_cast<double>(state.iterations());

  // Each chunk lives on one rank: the sum over ranks gathers every chunk's numbers everywhere.
  bench::sum_over_ranks(sums.data(), static_cast<int>(sums.size()));
  ActionCosts costs;
  double f_total = 0.0, f_count = 0.0;
  for (int chunk = 0; chunk < s.num_chunks(); ++chunk) {
    std::array<double, 4> mean{};
    for (std::size_t t = 0; t < 4; ++t) {
      const double n = sums[static_cast<std::size_t>(chunk) * 8 + t + 4];
      mean[t] = n > 0 ? sums[static_cast<std::size_t>(chunk) * 8 + t] / n : 0.0;
    }
    f_total += sums[static_cast<std::size_t>(chunk) * 8];
    f_count += sums[static_cast<std::size_t>(chunk) * 8 + 4];
    costs.per_chunk.push_back(mean);
  }
  g_mini_f_seconds = f_total / f_count;
  double latency = active ? p2p_latency(mesh->pp_group(), stage->boundary_shape(1)) : 0.0;
  costs.p2p = bench::max_over_ranks(latency);
  const Analysis a = analyze(s, costs);
  double predicted = 0.0;
  for (double b : a.bubble_fraction) predicted += b / kPp;

  state.counters["measured_pct"] = 100.0 * measured;
  state.counters["predicted_pct"] = 100.0 * predicted;
  state.counters["diff_pp"] = 100.0 * (measured - predicted);
  state.counters["p2p_us"] = costs.p2p * 1e6;
}

void register_all(Communicator& world) {
  g_world = &world;
  if (world.size() < 2) return;  // every benchmark here needs two ranks
  for (const char* name : {"1f1b", "interleaved", "zb-h1"})
    benchmark::RegisterBenchmark((std::string("BM_MiniBubble/") + name).c_str(), BM_MiniBubble, std::string(name))
        ->UseManualTime()
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ExecutorOverhead", BM_ExecutorOverhead)
      ->ArgName("pp")
      ->Arg(1)
      ->Arg(2)
      ->UseManualTime()
      ->Iterations(20)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) { return trident::bench::run_mpi_benchmarks(argc, argv, "bench_pipeline", trident::register_all); }
