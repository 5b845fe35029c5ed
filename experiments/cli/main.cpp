// `trident <command> [flags]`, launched by mpirun on every rank (one rank is fine too):
//   mpirun -np 8 --oversubscribe build/experiments/trident mesh --dp 2 --pp 2 --tp 2
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/cli/rank_agreement.h"
#include "parallel/mpi/heartbeat.h"
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

// Reads a command's flags (and its positional ones) into `vm`; returns the help text when --help
// was given, else an empty string. Throws on bad flags.
std::string parse_flags(const Command& command, int argc, char** argv, po::variables_map& vm) {
  po::options_description flags("trident " + command.name + " flags");
  flags.add_options()("help,h", "show this help");
  command.declare(flags);
  po::positional_options_description positional;
  for (const std::string& name : command.positional) positional.add(name.c_str(), 1);
  po::store(po::command_line_parser(argc - 1, argv + 1).options(flags).positional(positional).run(), vm);
  po::notify(vm);
  if (!vm.count("help")) return "";
  std::ostringstream os;
  os << command.summary << "\n\n" << flags << "\n";
  return os.str();
}

// One line for anything a user can cause: trident errors without their source location, and the
// exceptions that do not come from trident said in words.
std::string one_line(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
    return "out of memory (std::bad_alloc): a size in the inputs needs more memory than this machine has; check the "
           "config's sizes (model, layout.micro_batches, layout.micro_batch_size) and the files it names";
  if (dynamic_cast<const nlohmann::json::exception*>(&e) != nullptr)
    return std::string("a JSON value has an unexpected type or is missing: ") + e.what();
  return message_of(e);
}

// A command that needs no MPI (Command::prepare_local): no MPI_Init, one process, exit code from the job.
int run_local(const Command& command, int argc, char** argv) {
  Command::LocalJob job;
  try {
    po::variables_map vm;
    const std::string help = parse_flags(command, argc, argv, vm);
    if (!help.empty()) {
      std::fputs(help.c_str(), stdout);
      return kExitOk;
    }
    job = command.prepare_local(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: error: %s\n", one_line(e).c_str());
    return kExitUsage;
  }
  try {
    return job();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: error: %s\n", one_line(e).c_str());
    return kExitFailed;
  }
}

// The input phase: TRIDENT_COMM_TIMEOUT_S, the flags and the command's own checks (for train: the
// config, the plan, the files it reads). Identical on every rank, no communication.
InputVerdict input_phase(int argc, char** argv, int world_size, Command::Job& job) {
  InputVerdict v;
  try {
    (void)Communicator::default_timeout();  // a bad value is an input error, before any communicator uses it
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      v.kind = argc < 2 ? InputVerdict::Kind::kError : InputVerdict::Kind::kHelp;
      v.text = argc < 2 ? "no command given\n" + usage() : usage();
      return v;
    }
    const Command* command = find_command(argv[1]);
    TRIDENT_CHECK(command != nullptr, "unknown command '", argv[1], "'\n", usage());
    po::variables_map vm;
    const std::string help = parse_flags(*command, argc, argv, vm);
    if (!help.empty()) {
      v.kind = InputVerdict::Kind::kHelp;
      v.text = help;
      return v;
    }
    job = command->prepare(vm, world_size);
    v.kind = InputVerdict::Kind::kRun;
    v.agreement = job.agreement.is_null() ? nlohmann::json{{"command line", std::vector<std::string>(argv, argv + argc)}}
                                          : job.agreement;
  } catch (const std::exception& e) {
    v.kind = InputVerdict::Kind::kError;
    v.text = one_line(e);
  }
  return v;
}

// A failure after ranks started talking: say so on this rank, then end every rank.
[[noreturn]] void end_job(const std::exception& e) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "[rank %d] trident: error: %s\n", rank, one_line(e).c_str());
  std::fflush(stderr);
  MpiRuntime::abort(kExitFailed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2)
    if (const Command* command = find_command(argv[1]); command != nullptr && command->prepare_local)
      return run_local(*command, argc, argv);
  std::optional<MpiRuntime> mpi;
  try {
    mpi.emplace(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trident: error: %s\n", one_line(e).c_str());
    return kExitFailed;
  }
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);

  // ---- input phase, then the ranks agree on its outcome (rank_agreement.h) --------------------
  Command::Job job;
  const InputVerdict verdict = input_phase(argc, argv, world_size, job);
  if (const int code = agree_on_inputs(verdict); code >= 0) return code;

  // ---- run phase: a failure on one rank must not leave the others waiting -----------------------
  int code = kExitOk;
  try {
    auto world = MpiCommunicator::world();
    const mpi::Heartbeat heartbeat(world->handle(), world->timeout());  // names a stopped rank
    try {
      code = job(*world);
    } catch (const std::exception& e) {
      end_job(e);
    }
  } catch (const std::exception& e) {
    end_job(e);
  }
  return code;
}
