// The ranks agree on their inputs before any communication that depends on them.
//
// Each rank's input phase (flags, config, plan, files) ends in a verdict: run the job, print help,
// or an error. Ranks started with different command lines, configs, --set values, environments or
// files reach different verdicts or different plans, and if they went on, their first collectives
// would not match: Open MPI then fails with heap corruption or unrelated errors that change from
// run to run. So main() first exchanges one fixed-size record per rank over MPI_COMM_WORLD — the
// verdict and a 64-bit FNV-1a hash of the rank's agreement document (`trident train`: its resolved
// plan as config JSON plus a digest of the data files and the checkpoint manifest it read; other
// commands: the command line) — a collective that depends on nothing configured:
//
//   some rank failed     the lowest failing rank prints its error (saying which rank, when others
//                        accepted their inputs); every rank exits 2.
//   documents differ     rank 0 broadcasts its document; the lowest rank whose document differs
//                        prints the first differing field (a JSON pointer), both values and every
//                        rank that differs from rank 0; every rank exits 2.
//   all asked for help   rank 0 prints it; exit 0.
//
// The exchange is watched like every blocking MPI call (parallel/mpi/mpi_watchdog.h), so a rank
// that never reaches it ends the job after TRIDENT_COMM_TIMEOUT_S.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace trident {

struct InputVerdict {
  enum class Kind { kRun = 0, kHelp = 1, kError = 2 };
  Kind kind = Kind::kError;
  std::string text;          // the help text, or the error's one-line message
  nlohmann::json agreement;  // kRun: what every rank must agree on
};

// Call on every rank of MPI_COMM_WORLD. Returns -1 when the job should run, else the exit code
// every rank returns (printing happens on one rank).
int agree_on_inputs(const InputVerdict& mine);

}  // namespace trident
