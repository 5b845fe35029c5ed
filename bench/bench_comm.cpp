// Communication bandwidth of the MPI backend, in nccl-tests terms. Run on two ranks:
//   experiments/launch/launch.sh 2 build/bench/bench_comm
// all_reduce: the blocking call (MPI's own, on the calling thread); all_reduce_async: the same issued
// non-blocking and waited for, as data parallelism does (it runs on the group's communication
// thread); send_recv: point-to-point.
// Counters (rank 0 prints them), bandwidths in GB/s:
//   algbw     = bytes / time
//   busbw     = algbw * 2(n-1)/n for all-reduce, = algbw for send/recv (one-way time: half a round trip)
//   memcpy    = one-rank memcpy bandwidth of the same size, measured on rank 0 in the same run
//   vs_memcpy = busbw / memcpy: how close the transport gets to copying the bytes once through memory
// Every rank runs the same fixed iteration counts, and each iteration's time is the slowest rank's,
// so the ranks stay in lockstep and the number is what a synchronous training step would see.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench/mpi_bench.h"
#include "parallel/communicator.h"

namespace {

using Clock = std::chrono::steady_clock;

trident::Communicator* g_world = nullptr;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Iterations per size: enough bytes to average out noise, few enough that the run stays short.
// Fixed (not Google Benchmark's adaptive count), so both ranks run the same loop.
std::int64_t iterations_for(std::int64_t bytes) {
  return std::clamp<std::int64_t>((std::int64_t{256} << 20) / bytes, 5, 500);
}

// One-rank memcpy bandwidth (bytes copied per second) of `bytes`, best of a few runs. Rank 0
// measures while the others wait in a barrier, which sleeps and leaves rank 0 the memory system.
double memcpy_bandwidth(std::size_t bytes) {
  double best = 0.0;
  if (g_world->rank() == 0) {
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    const int reps = static_cast<int>(std::clamp<std::int64_t>(iterations_for(static_cast<std::int64_t>(bytes)), 5,
                                                                100));
    std::memcpy(dst.data(), src.data(), bytes);  // fault the pages in before timing
    for (int r = 0; r < reps; ++r) {
      const Clock::time_point start = Clock::now();
      std::memcpy(dst.data(), src.data(), bytes);
      benchmark::DoNotOptimize(dst.data());
      benchmark::ClobberMemory();
      best = std::max(best, static_cast<double>(bytes) / seconds_since(start));
    }
  }
  g_world->barrier();
  return best;
}

void report(benchmark::State& state, std::int64_t bytes, double total_seconds, double bus_factor, double memcpy_bw) {
  const double algbw = static_cast<double>(bytes) * static_cast<double>(state.iterations()) / total_seconds;
  const double busbw = algbw * bus_factor;
  state.counters["algbw"] = algbw / 1e9;
  state.counters["busbw"] = busbw / 1e9;
  state.counters["memcpy"] = memcpy_bw / 1e9;
  state.counters["vs_memcpy"] = memcpy_bw > 0 ? busbw / memcpy_bw : 0.0;
}

void BM_AllReduce(benchmark::State& state, bool async) {
  const std::int64_t bytes = state.range(0);
  const double memcpy_bw = memcpy_bandwidth(static_cast<std::size_t>(bytes));
  trident::Tensor x = trident::Tensor::empty({bytes / 4});
  std::fill_n(x.data<float>(), x.numel(), 1.0f);
  g_world->all_reduce(x, trident::ReduceOp::kSum);  // warm-up: connections and buffers set up
  double total = 0.0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    if (async) g_world->all_reduce_async(x, trident::ReduceOp::kSum).wait();
    else g_world->all_reduce(x, trident::ReduceOp::kSum);
    const double t = trident::bench::max_over_ranks(seconds_since(start));
    state.SetIterationTime(t);
    total += t;
  }
  const int n = g_world->size();
  report(state, bytes, total, 2.0 * (n - 1) / n, memcpy_bw);
}

// Ping-pong between ranks 0 and 1 (the others idle): half a round trip is one transfer.
void BM_SendRecv(benchmark::State& state) {
  if (g_world->size() < 2) {  // same on every rank, so all of them skip
    state.SkipWithError("send/recv needs two ranks: run with mpirun -np 2");
    return;
  }
  const std::int64_t bytes = state.range(0);
  const double memcpy_bw = memcpy_bandwidth(static_cast<std::size_t>(bytes));
  trident::Tensor x = trident::Tensor::empty({bytes / 4});
  std::fill_n(x.data<float>(), x.numel(), 1.0f);
  const int me = g_world->rank();
  auto round_trip = [&] {
    if (me == 0) {
      g_world->send(x, 1, 0).wait();
      g_world->recv(x, 1, 0).wait();
    } else if (me == 1) {
      g_world->recv(x, 0, 0).wait();
      g_world->send(x, 0, 0).wait();
    }
  };
  round_trip();  // warm-up
  double total = 0.0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    round_trip();
    const double t = trident::bench::max_over_ranks(seconds_since(start)) / 2.0;
    state.SetIterationTime(t);
    total += t;
  }
  report(state, bytes, total, 1.0, memcpy_bw);
}

void register_benchmarks() {
  for (bool async : {false, true})
    for (std::int64_t bytes = 4 << 10; bytes <= (std::int64_t{64} << 20); bytes *= 4) {
      benchmark::RegisterBenchmark(async ? "all_reduce_async" : "all_reduce", BM_AllReduce, async)
          ->Arg(bytes)
          ->Iterations(iterations_for(bytes))
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  for (std::int64_t bytes = 4 << 10; bytes <= (std::int64_t{64} << 20); bytes *= 4) {
    benchmark::RegisterBenchmark("send_recv", BM_SendRecv)
        ->Arg(bytes)
        ->Iterations(iterations_for(bytes))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return trident::bench::run_mpi_benchmarks(argc, argv, "bench_comm", [](trident::Communicator& world) {
    g_world = &world;
    register_benchmarks();
  });
}
