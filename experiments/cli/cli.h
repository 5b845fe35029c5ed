// Shared plumbing of the `trident` subcommands: how a command is declared, how it reports errors.
//
// Error policy, so that no mistake ever hangs a multi-rank run:
// - Input errors (bad flags, a layout that doesn't fit the world, a bad file) are found before any
//   communication that depends on them. The ranks then agree (rank_agreement.h): one rank prints
//   the error, naming itself when the others accepted their inputs, or the first field on which
//   ranks started with different inputs disagree; every rank exits with kExitUsage.
// - Anything that fails after ranks started talking is printed by the rank that saw it, which then
//   aborts the whole job (MPI_Abort), so the other ranks never wait on it.
// Every message is one line (trident::message_of: no source location) naming the file, the field
// and the fix.
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace trident {

class Communicator;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the command ran and found a problem (a check failed)
constexpr int kExitUsage = 2;   // bad input: flags, layout, world size

struct Command {
  std::string name;
  std::string summary;
  // Declares the command's flags.
  std::function<void(boost::program_options::options_description&)> declare;
  // Validates the flags against the world size without communicating (every rank reaches the same
  // verdict; throws trident::Error naming the flag and the fix) and returns the job to run. A job
  // is a callable (a lambda converts) plus what every rank must agree on before it runs
  // (rank_agreement.h): `trident train` sets its resolved plan and the digest of the files it
  // read; left null, main() compares the command lines.
  class Job {
   public:
    Job() = default;
    template <typename F>
      requires std::is_invocable_r_v<int, F&, Communicator&>
    Job(F run) : run_(std::move(run)) {}  // NOLINT(google-explicit-constructor): a lambda is a job
    int operator()(Communicator& world) const { return run_(world); }
    nlohmann::json agreement;

   private:
    std::function<int(Communicator& world)> run_;
  };
  std::function<Job(const boost::program_options::variables_map&, int world_size)> prepare;

  // Flags that may also be given by position, in order (`trident sweep SPEC.json` = --spec SPEC.json).
  std::vector<std::string> positional;
  // A command that starts MPI jobs itself (sweep: an mpirun per point) or only runs local tools
  // (plot) sets prepare_local instead of prepare: main() then never initialises MPI, so the process
  // carries no MPI/PMIx state into the jobs it starts. It validates like prepare (throwing
  // trident::Error for bad input, exit 2) and returns the job; the job's return value is the exit code.
  using LocalJob = std::function<int()>;
  std::function<LocalJob(const boost::program_options::variables_map&)> prepare_local;
};

const std::vector<Command>& commands();

// Prints only on world rank 0 (progress lines, tables, summaries).
void print0(const Communicator& world, const std::string& text);

}  // namespace trident
