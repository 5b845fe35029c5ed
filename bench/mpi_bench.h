// Shared plumbing of the benchmarks that run as several MPI ranks (mpirun -np N bench_x): every
// rank runs the same benchmarks with the same fixed iteration counts, rank 0 reports, the others
// print nothing, and each timed quantity is the slowest rank's.
#pragma once

#include <functional>

#include "parallel/communicator.h"

namespace trident::bench {

// The slowest rank's value (MPI_MAX over the world): what a synchronous step waits for.
double max_over_ranks(double value);
// Sum over the world, element-wise in place.
void sum_over_ranks(double* values, int count);

// MPI start-up, benchmark::Initialize, `register_benchmarks(world)`, the run (rank 0 reporting),
// shutdown; errors end every rank. Returns main's exit code.
int run_mpi_benchmarks(int argc, char** argv, const char* program,
                       const std::function<void(Communicator& world)>& register_benchmarks);

}  // namespace trident::bench
