// The main() of the single-process Google Benchmarks (bench_gemm, bench_cuda_ops): a default
// --benchmark_min_time of 0.2 s per benchmark, so a whole run stays short (an explicit
// --benchmark_min_time overrides it), then register, run, shut down.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

namespace trident::bench {

// benchmark::Initialize with argv, `register_benchmarks()`, the run, shutdown. Returns main's exit
// code (1 for an unrecognised argument).
inline int run_benchmarks(int argc, char** argv, void (*register_benchmarks)()) {
  std::vector<char*> args(argv, argv + argc);
  static char default_min_time[] = "--benchmark_min_time=0.2";
  const bool has_min_time = std::any_of(
      args.begin(), args.end(), [](const char* a) { return std::string(a).rfind("--benchmark_min_time", 0) == 0; });
  if (!has_min_time) args.insert(args.begin() + 1, default_min_time);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace trident::bench
