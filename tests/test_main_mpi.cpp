// GoogleTest main for tests that run as N MPI ranks (mpirun -np N test_binary). Every rank runs
// every test; rank 0 prints the usual output, the others print only their failures, tagged with the
// rank. The exit status is the same on all ranks: non-zero when a test failed on any rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <optional>

#include "parallel/mpi/mpi_communicator.h"
#include "tests/mpi_test_env.h"

namespace trident {

Communicator& test_world() {
  static std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  return *world;
}

}  // namespace trident

namespace {

// Failure reports of ranks other than 0, which would otherwise go unseen.
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}

  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.message());
    std::fflush(stderr);
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

// Runs the tests on this rank and agrees with the others on the exit status.
int run_all_ranks(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any_failed && !failed) std::fprintf(stderr, "tests failed on other ranks: see [rank r] lines\n");
  return any_failed;
}

}  // namespace

int main(int argc, char** argv) {
  // The runtime outlives the try block, so an error can still end every rank through MPI_Abort
  // instead of leaving the others waiting in a collective.
  std::optional<trident::MpiRuntime> mpi;
  try {
    mpi.emplace(&argc, &argv);
    return run_all_ranks(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (mpi) trident::MpiRuntime::abort(1);
    return 1;
  }
}
