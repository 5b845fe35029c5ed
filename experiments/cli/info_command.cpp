// `trident info`: what this build is and what it linked: the numbers a run record needs.
#include <cstdio>
#include <sstream>

#include "core/cpu/blas_threads.h"
#include "core/cuda_probe.h"
#include "experiments/cli/cli.h"
#include "parallel/comm_backends.h"
#include "parallel/communicator.h"

namespace po = boost::program_options;

namespace trident {

namespace {
std::string version3(int v, int major_div, int minor_div) {
  return std::to_string(v / major_div) + "." + std::to_string(v / minor_div % (major_div / minor_div)) + "." +
         std::to_string(v % minor_div);
}
}  // namespace

Command make_info_command() {
  Command c;
  c.name = "info";
  c.summary = "print the build configuration, library versions and visible devices";
  c.declare = [](po::options_description&) {};
  c.prepare = [](const po::variables_map&, int) -> Command::Job {
    return [](Communicator& world) {
      const CommBackends b = comm_backends();
      const CudaProbe& cuda = cuda_probe();
      std::ostringstream os;
      os << "trident build\n"
         << "  world ranks     " << world.size() << "\n"
         << "  MPI             " << b.mpi << "\n"
         << "  CPU threads     " << blas_threads() << " per rank (one pool; OpenBLAS single-threaded in it)\n"
         << "  CUDA backend    " << (cuda.built_with_cuda ? "built" : "not built") << "\n";
      if (cuda.built_with_cuda) {
        os << "  CUDA runtime    " << version3(cuda.runtime_version, 1000, 10) << " (driver "
           << (cuda.driver_version ? version3(cuda.driver_version, 1000, 10) : std::string("none")) << ")\n"
           << "  cuBLAS          " << version3(cuda.cublas_version, 10000, 100) << "\n"
           << "  cuDNN           " << version3(cuda.cudnn_version, 10000, 100) << "\n"
           << "  NCCL            " << b.nccl << "\n";
      }
      os << "  GPUs            ";
      if (cuda.available) {
        for (const std::string& d : cuda.devices) os << d << "; ";
        os << "\n";
      } else {
        os << "none: " << cuda.reason << "\n";
      }
      print0(world, os.str());
      return kExitOk;
    };
  };
  return c;
}

}  // namespace trident
