#include "parallel/comm_backends.h"

#include <mpi.h>

#ifdef TRIDENT_HAVE_CUDA
#include <nccl.h>
#endif

namespace trident {

CommBackends comm_backends() {
  CommBackends b;
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  b.mpi.assign(version, static_cast<std::size_t>(len));
  if (const auto nl = b.mpi.find_first_of("\n,"); nl != std::string::npos) b.mpi.resize(nl);
#ifdef TRIDENT_HAVE_CUDA
  int v = 0;
  if (ncclGetVersion(&v) == ncclSuccess) {
    // NCCL encodes major*10000 + minor*100 + patch since 2.9.
    b.nccl = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  } else {
    b.nccl = "ncclGetVersion failed";
  }
#else
  b.nccl = "not built (CPU-only build)";
#endif
  return b;
}

}  // namespace trident
