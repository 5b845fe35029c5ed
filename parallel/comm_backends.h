// Versions of the communication libraries this build linked, for `trident info` and run records.
#pragma once

#include <string>

namespace trident {

struct CommBackends {
  std::string mpi;   // MPI_Get_library_version, first line
  std::string nccl;  // "2.28.3", or why there is none
};

// Call after MPI is initialised.
CommBackends comm_backends();

}  // namespace trident
