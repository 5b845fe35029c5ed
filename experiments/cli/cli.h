// Shared plumbing of the `trident` subcommands: how a command is declared, how it reports errors.
//
// Error policy, so that no mistake ever hangs a multi-rank run:
// - Input errors (bad flags, a layout that doesn't fit the world) are found identically on every
//   rank before any communication. Rank 0 prints them; every rank exits with kExitUsage.
// - Anything that fails after ranks started talking is printed by the rank that saw it, which then
//   aborts the whole job (MPI_Abort), so the other ranks never wait on it.
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <vector>

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
  // verdict; throws trident::Error naming the flag and the fix) and returns the job to run.
  using Job = std::function<int(Communicator& world)>;
  std::function<Job(const boost::program_options::variables_map&, int world_size)> prepare;
};

const std::vector<Command>& commands();

// Prints only on world rank 0 (progress lines, tables, summaries).
void print0(const Communicator& world, const std::string& text);

}  // namespace trident
