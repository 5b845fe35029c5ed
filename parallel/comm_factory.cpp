#include "parallel/comm_factory.h"

#include <mpi.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/cuda_probe.h"
#include "core/error.h"
#include "parallel/mpi/mpi_communicator.h"

#ifdef TRIDENT_HAVE_CUDA
#include "parallel/nccl/nccl_communicator.h"
#endif

namespace trident {

namespace {

MPI_Comm mpi_handle(Communicator& c, const char* who) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&c);
  TRIDENT_CHECK(mpi != nullptr, who, " needs the MPI world communicator, but was given communicator '", c.name(),
                "' of backend \"", c.backend(), "\"");
  return mpi->handle();
}

std::optional<int> env_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || value < 0 || value > 1 << 20) return std::nullopt;
  return static_cast<int>(value);
}

struct NodeRanks {
  int rank = 0;
  int size = 1;
};

// Open MPI's launcher tells each process its place on the node; valid for `comm` only when it holds
// MPI_COMM_WORLD's ranks in the same order (a group comparison, the same answer on every rank).
std::optional<NodeRanks> node_ranks_from_environment(MPI_Comm comm) {
  int same = MPI_UNEQUAL;
  if (MPI_Comm_compare(comm, MPI_COMM_WORLD, &same) != MPI_SUCCESS) return std::nullopt;
  if (same != MPI_IDENT && same != MPI_CONGRUENT) return std::nullopt;
  const std::optional<int> rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
  const std::optional<int> size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (!rank || !size || *rank >= *size) return std::nullopt;
  return NodeRanks{*rank, *size};
}

// The ranks of `comm` that share this node's memory, as a communicator (collective over comm).
MPI_Comm split_by_node(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  const int rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  TRIDENT_CHECK(rc == MPI_SUCCESS && node != MPI_COMM_NULL, "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) failed with ",
                "MPI error ", rc, ": cannot tell which ranks share this node");
  return node;
}

NodeRanks node_ranks(Communicator& mpi_world, const char* who) {
  const MPI_Comm comm = mpi_handle(mpi_world, who);
  if (std::optional<NodeRanks> env = node_ranks_from_environment(comm)) return *env;
  MPI_Comm node = split_by_node(comm);
  NodeRanks r;
  MPI_Comm_rank(node, &r.rank);
  MPI_Comm_size(node, &r.size);
  MPI_Comm_free(&node);
  return r;
}

// Whether this rank can use NCCL for `device`, and if not, why. Higher codes win when the ranks'
// verdicts are combined, so the message names the most specific problem any rank had.
enum Fit : std::int32_t {
  kFits = 0,
  kNotCudaDevice = 1,
  kCpuOnlyBuild = 2,
  kNoGpu = 3,
  kTooFewGpus = 4,
  kSharedGpu = 5,
};

struct NcclFit {
  std::int32_t code = kFits;
  std::string detail;  // this rank's specifics
};

// Collective over mpi_world (the node split and the exchange of device indices happen on every
// rank, whatever its verdict, so the calls match).
NcclFit nccl_fit(Communicator& mpi_world, Device device) {
  const MPI_Comm comm = mpi_handle(mpi_world, "make_device_world");
  MPI_Comm node = split_by_node(comm);
  int node_rank = 0, node_size = 1;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  const int mine = device.is_cuda() ? device.index : -1;
  std::vector<int> devices(static_cast<std::size_t>(node_size), -1);
  const int rc = MPI_Allgather(&mine, 1, MPI_INT, devices.data(), 1, MPI_INT, node);
  MPI_Comm_free(&node);
  TRIDENT_CHECK(rc == MPI_SUCCESS, "MPI_Allgather of the ranks' devices on this node failed with MPI error ", rc);

  if (!device.is_cuda()) return {kNotCudaDevice, "device is " + device.str()};
  const CudaProbe& probe = cuda_probe();
  if (!probe.built_with_cuda) return {kCpuOnlyBuild, probe.reason};
  if (!probe.available) return {kNoGpu, probe.reason};
  if (node_size > probe.device_count)
    return {kTooFewGpus,
            detail::concat(node_size, " ranks run on this node but it has ", probe.device_count, " GPU(s)")};
  if (device.index < 0 || device.index >= probe.device_count)
    return {kSharedGpu, detail::concat(device.str(), " does not exist: this node has ", probe.device_count, " GPU(s)")};
  for (int r = 0; r < node_size; ++r) {
    if (r != node_rank && devices[static_cast<std::size_t>(r)] == device.index)
      return {kSharedGpu, detail::concat("local ranks ", std::min(r, node_rank), " and ", std::max(r, node_rank),
                                         " of this node both use ", device.str())};
  }
  return {kFits, ""};
}

std::string nccl_refusal(std::int32_t agreed, const NcclFit& mine) {
  const std::string here = mine.code == agreed ? " (" + mine.detail + ")" : " (on another rank)";
  switch (agreed) {
    case kNotCudaDevice:
      return "comm = \"nccl\" needs device = \"cuda\"" + here + ": set device to \"cuda\", or comm to \"mpi\"";
    case kCpuOnlyBuild:
      return "comm = \"nccl\" needs a CUDA build of trident" + here + ": rebuild with CUDA, or set comm to \"mpi\"";
    case kNoGpu: return "comm = \"nccl\" needs a usable GPU" + here + ": run on a GPU machine, or set comm to \"mpi\"";
    case kTooFewGpus:
      return "comm = \"nccl\" needs a GPU of its own for every rank on a node (NCCL refuses two ranks on one GPU)" +
             here +
             ": run at most one rank per GPU, or set comm to \"mpi\" (slow: GPU tensors are staged through host "
             "memory)";
    case kSharedGpu:
      return "comm = \"nccl\" needs a different GPU for every rank on a node" + here +
             ": use device = \"cuda\" (each rank takes cuda:<local rank>), or set comm to \"mpi\"";
    default: return "comm = \"nccl\" cannot be used";
  }
}

}  // namespace

int local_rank(Communicator& mpi_world) { return node_ranks(mpi_world, "local_rank").rank; }

int local_size(Communicator& mpi_world) { return node_ranks(mpi_world, "local_size").size; }

CommBackend parse_comm_backend(std::string_view name) {
  if (name == "auto") return CommBackend::kAuto;
  if (name == "mpi") return CommBackend::kMpi;
  if (name == "nccl") return CommBackend::kNccl;
  TRIDENT_FAIL("comm = \"", name, "\" is not a communicator backend: use \"auto\" (NCCL on GPUs when each rank ",
               "has its own), \"mpi\" or \"nccl\"");
}

std::string_view comm_backend_name(CommBackend backend) {
  switch (backend) {
    case CommBackend::kAuto: return "auto";
    case CommBackend::kMpi: return "mpi";
    case CommBackend::kNccl: return "nccl";
  }
  return "?";
}

std::unique_ptr<Communicator> make_device_world(Communicator& mpi_world, Device device, CommBackend backend) {
  mpi_handle(mpi_world, "make_device_world");  // fails early, on every rank alike, for a non-MPI world
  if (backend == CommBackend::kMpi) return mpi_world.split(0, mpi_world.rank(), mpi_world.name());

  // Combine the verdicts first, so no rank builds an NCCL world the others do not join.
  const NcclFit mine = nccl_fit(mpi_world, device);
  Tensor worst = Tensor::empty({1}, DType::kI32);
  worst.data<std::int32_t>()[0] = mine.code;
  mpi_world.all_reduce(worst, ReduceOp::kMax);
  const std::int32_t agreed = worst.data<std::int32_t>()[0];
  if (agreed == kFits) {
#ifdef TRIDENT_HAVE_CUDA
    return make_nccl_world(mpi_world, device.index);
#endif
  }
  if (backend == CommBackend::kAuto) return mpi_world.split(0, mpi_world.rank(), mpi_world.name());
  TRIDENT_FAIL(nccl_refusal(agreed, mine));
}

}  // namespace trident
