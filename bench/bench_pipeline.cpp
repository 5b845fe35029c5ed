// Pipeline executor benchmarks.
// Run on two and on four ranks: experiments/launch/launch.sh 2 build/bench/bench_pipeline (and 4).
//
// BM_ExecutorOverhead/pp:P — the executor's own cost per action: a 1F1B step of m = 256
//   micro-batches against a stage that computes nothing (pp=1: bookkeeping only; pp=2: plus MPI
//   messages of 4 bytes). ns_per_action, and vs_mini_F = that cost / the mean mini-model F
//   action measured by BM_MiniBubble in the same run (registered first).
// BM_MiniBubble/<schedule>/pp:P — pp = the world size (2 or 4; one rank per stage, one OpenBLAS
//   thread each) on the `mini` model's width (h256 nh8 S256 V4096; 4 blocks at pp=2, 8 at pp=4 so
//   that the V and looped schedules' 2·pp chunks hold one block each), m = 8 micro-batches of one
//   sequence. measured_pct: each rank's bubble, (step time − time in F/B/I/W/FB) / step time with
//   the step time the slowest rank's, averaged over ranks and iterations. predicted_pct: the
//   analyzer's bubble of the same schedule, averaged the same way, from this run's measured
//   per-chunk action costs (means over the run's F, B, I and W actions; an overlapped FB is
//   costed as its F + B, which is how the executor runs it) and point-to-point time p2p (half a
//   ping-pong of one boundary tensor), with blocking receives (ActionCosts::recv = p2p: see
//   below). diff_pp = measured − predicted in percentage points (target |diff_pp| <= 2).
//   async_pred_pct: the prediction if transfers landed while the receiver computes (recv = 0).
//   Both assume Open MPI copies a large message by itself (single-copy CMA, its default on one
//   node). Without it (OMPI_MCA_btl_vader_single_copy_mechanism=none, TCP) a transfer moves only
//   while its sender is inside an MPI call, the sending stage is computing its next action, and
//   the stages run nearly in lockstep: measured ≈ 1 − 1/pp for every schedule.
//   The cost-aware schedules (zb-1p, zb-2p) are built for unit costs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "bench/mpi_bench.h"
#include "core/cpu/blas_threads.h"
#include "parallel/device_mesh.h"
#include "schedules/analyzer.h"
#include "schedules/executor.h"
#include "schedules/generators.h"
#include "schedules/trace_costs.h"
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

// One-way time of a boundary-sized message between ranks 0 and 1: half the median ping-pong round
// trip (the median, because on an oversubscribed machine a descheduled rank stretches a few trips).
double p2p_latency(Communicator& pp, const Shape& shape) {
  Tensor x = Tensor::zeros(shape);
  const int peer = 1 - pp.rank();
  std::vector<double> trips(21);
  pp.barrier();
  for (double& trip : trips) {
    const auto t0 = std::chrono::steady_clock::now();
    if (pp.rank() == 0) {
      pp.send(x, peer, 99).wait();
      pp.recv(x, peer, 99).wait();
    } else {
      pp.recv(x, peer, 99).wait();
      pp.send(x, peer, 99).wait();
    }
    trip = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::nth_element(trips.begin(), trips.begin() + 10, trips.end());
  return trips[10] / 2.0;
}

void BM_MiniBubble(benchmark::State& state, const std::string& name) {
  constexpr int kMicroBatches = 8;
  const int pp = g_world->size();
  set_blas_threads(1);
  auto group = pipeline_group(pp);
  GptConfig c = GptConfig::mini();
  c.layers = 2 * pp;
  const Schedule s = make_schedule(name, pp, 2, kMicroBatches);
  std::optional<DeviceMesh> mesh;
  std::optional<GptPipelineStage> stage;
  std::optional<PipelineExecutor> ex;
  mesh.emplace(*group, MeshLayout(1, pp, 1));
  stage.emplace(c, s, mesh->coord().pp, &mesh->tp_group(), TensorParallelOptions{});
  ex.emplace(s, &mesh->pp_group());
  const std::unique_ptr<GradSync> sync =
      stage->wire_grad_sync(stage->parameters(), &mesh->tp_group(), mesh->embedding_group(), nullptr);
  const Tensor ids = testing_util::random_tokens(kMicroBatches, c, 1, "ids");
  stage->set_batch(ids, testing_util::random_tokens(kMicroBatches, c, 1, "targets"));
  auto step = [&]() -> ExecutionStats {
    g_world->barrier();  // start the ranks together: the bubble is measured from a common start
    stage->zero_grads();
    sync->start_step(s.micro_batches);
    ExecutionStats st = ex->run(*stage);
    sync->finish();
    return st;
  };
  step();  // warm-up: allocations, MPI connections
  std::vector<double> sums = action_time_sums(s.num_chunks());
  double bubble_sum = 0.0;
  for (auto _ : state) {
    const ExecutionStats last = step();
    add_action_times(last.timeline, sums);
    const double makespan = bench::max_over_ranks(last.step_s);
    double mine = (makespan - last.compute_s) / makespan;
    bench::sum_over_ranks(&mine, 1);
    bubble_sum += mine / pp;
    state.SetIterationTime(makespan);
  }
  const double measured = bubble_sum / static_cast<double>(state.iterations());

  // Each chunk lives on one rank: the sum over ranks gathers every chunk's numbers everywhere.
  bench::sum_over_ranks(sums.data(), static_cast<int>(sums.size()));
  ActionCosts costs = mean_action_costs(sums);
  g_mini_f_seconds = costs.f;  // every chunk runs m forwards: the mean over chunks is the mean F
  // One-way latency between stages 0 and 1 (the other stages idle through it).
  double latency = 0.0;
  {
    auto pair = g_world->split(g_world->rank() < 2 ? 0 : 1, g_world->rank(), "p2p");
    if (g_world->rank() < 2) latency = p2p_latency(*pair, stage->boundary_shape(1));
  }
  costs.p2p = bench::max_over_ranks(latency);
  // Open MPI on CPU ranks moves a message this large (rendezvous, no progress thread) only inside
  // MPI calls, i.e. mostly while its receiver waits for it, even when the receive was posted
  // ahead: a receive then holds its stage for the transfer (recv = p2p). The second prediction
  // assumes transfers that land while the receiver computes (recv = 0).
  auto predict = [&](double recv) {
    costs.recv = recv;
    double out = 0.0;
    for (double b : analyze(s, costs).bubble_fraction) out += b / pp;
    return out;
  };
  const double predicted = predict(costs.p2p), predicted_async = predict(0.0);

  state.counters["measured_pct"] = 100.0 * measured;
  state.counters["predicted_pct"] = 100.0 * predicted;
  state.counters["diff_pp"] = 100.0 * (measured - predicted);
  state.counters["async_pred_pct"] = 100.0 * predicted_async;
  state.counters["p2p_us"] = costs.p2p * 1e6;
}

void register_all(Communicator& world) {
  g_world = &world;
  if (world.size() < 2) return;  // every benchmark here needs two ranks
  if (world.size() == 2 || world.size() == 4)
    for (const char* name :
         {"1f1b", "interleaved", "zb-h1", "zb-h2", "zb-1p", "zb-2p", "zb-v", "dualpipev", "looped-bfs"})
      benchmark::RegisterBenchmark(
          (std::string("BM_MiniBubble/") + name + "/pp:" + std::to_string(world.size())).c_str(), BM_MiniBubble,
          std::string(name))
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
