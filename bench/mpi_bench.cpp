#include "bench/mpi_bench.h"

#include <benchmark/benchmark.h>
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>

#include "parallel/mpi/mpi_communicator.h"

namespace trident::bench {

double max_over_ranks(double value) {
  MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return value;
}

void sum_over_ranks(double* values, int count) {
  MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

namespace {
// Ranks other than 0 run the same benchmarks in lockstep but print nothing.
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};
}  // namespace

int run_mpi_benchmarks(int argc, char** argv, const char* program,
                       const std::function<void(Communicator& world)>& register_benchmarks) {
  std::optional<MpiRuntime> mpi;
  try {
    mpi.emplace(&argc, &argv);
    std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
    if (world->size() < 2 && world->rank() == 0)
      std::fprintf(stderr, "%s: 1 rank, so nothing crosses a process boundary; run with mpirun -np 2\n", program);
    benchmark::Initialize(&argc, argv);
    register_benchmarks(*world);
    if (world->rank() == 0) {
      benchmark::RunSpecifiedBenchmarks();
    } else {
      NullReporter null_reporter;
      benchmark::RunSpecifiedBenchmarks(&null_reporter);
    }
    benchmark::Shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    if (mpi) MpiRuntime::abort(1);
    return 1;
  }
}

}  // namespace trident::bench
