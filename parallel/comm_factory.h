// Which communicator moves device tensors: NCCL between GPUs, or MPI (host tensors as they are,
// GPU tensors staged through pinned host memory). The trainer's config field `comm` picks one, and
// each rank runs on cuda:<local_rank>.
#pragma once

#include <memory>
#include <string_view>

#include "core/device.h"
#include "parallel/communicator.h"

namespace trident {

// This rank's index among the ranks of `mpi_world` on its node, and how many there are. Taken from
// Open MPI's OMPI_COMM_WORLD_LOCAL_RANK / OMPI_COMM_WORLD_LOCAL_SIZE when mpi_world has the ranks of
// MPI_COMM_WORLD in order (no communication); otherwise from an MPI_COMM_TYPE_SHARED split of
// mpi_world, which is collective over it. `mpi_world` must be an MPI communicator.
int local_rank(Communicator& mpi_world);
int local_size(Communicator& mpi_world);

// The config field `comm`: which backend moves device tensors.
enum class CommBackend { kAuto, kMpi, kNccl };
// "auto" | "mpi" | "nccl"; throws naming the accepted values.
CommBackend parse_comm_backend(std::string_view name);
std::string_view comm_backend_name(CommBackend backend);

// The world communicator for tensors on `device`, by `backend` (the config field `comm`):
//   "nccl": NCCL (parallel/nccl/nccl_communicator.h). Needs a CUDA build, a CUDA device, and a GPU
//           of its own for every rank on a node (NCCL refuses two ranks on one GPU); otherwise every
//           rank throws a message naming `comm` and the fix.
//   "mpi":  a new MPI communicator split from mpi_world (same ranks, name and timeout; owned by the
//           caller, independent of mpi_world, so device traffic never shares message order with the
//           caller's host traffic). GPU tensors are staged through pinned host memory: slow, but any
//           number of ranks may share one GPU.
//   "auto": "nccl" when device is a GPU and every rank on every node has a GPU of its own, else "mpi".
// Collective over mpi_world. The ranks' verdicts are combined (all-reduce) before anything is built,
// so every rank gets the same backend, or every rank throws.
std::unique_ptr<Communicator> make_device_world(Communicator& mpi_world, Device device, CommBackend backend);

}  // namespace trident
