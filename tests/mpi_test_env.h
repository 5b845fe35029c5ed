// Shared state of the multi-rank test binaries (main in test_main_mpi.cpp).
#pragma once

#include "parallel/communicator.h"

namespace trident {

// The world communicator (MPI_COMM_WORLD duplicated), created on first use, after MPI is up. Tests
// that change its timeout must restore it; tests that need odd settings split their own group.
Communicator& test_world();

}  // namespace trident
