// `trident <command> [flags]`, launched by mpirun on every rank (one rank is fine too):
//   mpirun -np 8 --oversubscribe build/experiments/trident mesh --dp 2 --pp 2 --tp 2
#include <cstdio>
#include <exception>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "parallel/mpi/mpi_communicator.h"

namespace po = boost::program_options;
using namespace trident;

namespace {

std::string usage() {
  std::ostringstream os;
  os << "usage: mpirun -np N trident <command> [flags]\n\ncommands:\n";
  for (const Command& c : commands()) os << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  os << "\n`trident <command> --help` lists a command's flags.\n";
  return os.str();
}

const Command* find_command(const std::string& name) {
  for (const Command& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  MpiRuntime mpi(&argc, &argv);
  int code = kExitOk;
  {
    auto world = MpiCommunicator::world();
    const bool root = world->rank() == 0;

    // ---- input phase: identical on every rank, no communication; rank 0 reports ---------------
    Command::Job job;
    try {
      if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        print0(*world, usage());
        return argc < 2 ? kExitUsage : kExitOk;
      }
      const Command* command = find_command(argv[1]);
      TRIDENT_CHECK(command != nullptr, "unknown command '", argv[1], "'\n", usage());
      po::options_description flags("trident " + command->name + " flags");
      flags.add_options()("help,h", "show this help");
      command->declare(flags);
      po::variables_map vm;
      po::store(po::command_line_parser(argc - 1, argv + 1).options(flags).run(), vm);
      po::notify(vm);
      if (vm.count("help")) {
        std::ostringstream os;
        os << command->summary << "\n\n" << flags << "\n";
        print0(*world, os.str());
        return kExitOk;
      }
      job = command->prepare(vm, world->size());
    } catch (const std::exception& e) {
      if (root) std::fprintf(stderr, "trident: error: %s\n", e.what());
      return kExitUsage;
    }

    // ---- run phase: a failure on one rank must not leave the others waiting -------------------
    try {
      code = job(*world);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "[rank %d] trident: error: %s\n", world->rank(), e.what());
      std::fflush(stderr);
      MpiRuntime::abort(kExitFailed);
    }
  }
  return code;
}
