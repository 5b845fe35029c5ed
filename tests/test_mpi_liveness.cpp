// A stopped peer (kill -STOP: alive, silent) is named by the heartbeat, and the watchdog's message
// says what this rank was blocked in — here a point-to-point receive, whose own timeout is the
// caller's (it would throw CommTimeout) but which is still named to the watchdog while it waits.
// Disabled here: CTest runs it on its own (test_mpi_liveness.np2) and checks the message and the
// exit status.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <thread>

#include "parallel/communicator.h"
#include "parallel/mpi/heartbeat.h"
#include "tests/mpi_test_env.h"

namespace trident {
namespace {

using std::chrono::milliseconds;

TEST(MpiLiveness, DISABLED_StoppedPeerIsNamedWithTheReceiveWaitingOnIt) {
  Communicator& world = test_world();
  if (world.size() < 2) GTEST_SKIP() << "needs two ranks";
  // The receive's own timeout (30 s) is far beyond the heartbeat's (2 s): the liveness alarm ends
  // the job first, and its message must name the receive rank 0 is blocked in.
  std::unique_ptr<Communicator> group = world.split(0, world.rank(), "liveness-test");
  group->set_timeout(milliseconds(30000));
  const mpi::Heartbeat heartbeat(MPI_COMM_WORLD, milliseconds(2000));
  group->barrier();
  if (world.rank() == 1) std::raise(SIGSTOP);  // the launcher kills it when rank 0 aborts the job
  Tensor buffer = Tensor::empty({16});
  group->recv(buffer, 1, 7).wait();
  ADD_FAILURE() << "the watchdog did not end the job";
}

}  // namespace
}  // namespace trident
