#include "experiments/cli/rank_agreement.h"

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "experiments/cli/cli.h"
#include "experiments/plan/json_file.h"
#include "experiments/plan/plan.h"
#include "parallel/comm_checks.h"
#include "parallel/communicator.h"
#include "parallel/mpi/mpi_watchdog.h"

namespace trident {

namespace {

// The exchange's own timeout: TRIDENT_COMM_TIMEOUT_S when it is valid (a rank whose value is not
// reports that as its input error), else the default.
std::chrono::milliseconds exchange_timeout() {
  try {
    return Communicator::default_timeout();
  } catch (const Error&) {
    return std::chrono::seconds(300);
  }
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (std::size_t i = 0; i < ranks.size() && i < 8; ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  if (ranks.size() > 8) out += ", ... (" + std::to_string(ranks.size()) + " ranks)";
  return out;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "trident: error: %s\n", message.c_str());
  std::fflush(stderr);
}

// Rank 0's agreement document, on every rank.
std::string broadcast_from_zero(const std::string& mine, int rank, const std::string& where) {
  const mpi::CallWatch watch("broadcast of rank 0's inputs", where, exchange_timeout());
  std::uint64_t length = rank == 0 ? mine.size() : 0;
  MPI_Bcast(&length, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  std::string text = rank == 0 ? mine : std::string(length, '\0');
  for (std::uint64_t done = 0; done < length;) {  // MPI counts are int
    const int n = static_cast<int>(std::min<std::uint64_t>(length - done, 1u << 30));
    MPI_Bcast(text.data() + done, n, MPI_CHAR, 0, MPI_COMM_WORLD);
    done += static_cast<std::uint64_t>(n);
  }
  return text;
}

}  // namespace

int agree_on_inputs(const InputVerdict& mine) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::string where = comm::where("world", rank, size);
  const std::string document = mine.kind == InputVerdict::Kind::kRun ? mine.agreement.dump() : "";
  const std::uint64_t record[2] = {static_cast<std::uint64_t>(mine.kind), fnv1a64(document)};
  std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(size));
  {
    const mpi::CallWatch watch("all_gather of the ranks' input verdicts", where, exchange_timeout());
    MPI_Allgather(record, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, MPI_COMM_WORLD);
  }
  auto kind_of = [&](int r) { return static_cast<InputVerdict::Kind>(all[2 * static_cast<std::size_t>(r)]); };
  auto hash_of = [&](int r) { return all[2 * static_cast<std::size_t>(r) + 1]; };

  std::vector<int> failed, differing;
  for (int r = 0; r < size; ++r) {
    if (kind_of(r) == InputVerdict::Kind::kError) failed.push_back(r);
    if (kind_of(r) != kind_of(0) || hash_of(r) != hash_of(0)) differing.push_back(r);
  }
  if (!failed.empty()) {
    if (rank == failed.front()) {
      if (static_cast<int>(failed.size()) == size) print_error(mine.text);  // the usual case: every rank alike
      else
        print_error("rank " + std::to_string(rank) + ": " + mine.text + " (ranks " + rank_list(failed) +
                    " of " + std::to_string(size) + " failed; the others accepted their inputs: start every rank " +
                    "with the same command line, config, environment and files)");
    }
    return kExitUsage;
  }
  if (differing.empty()) {
    if (kind_of(0) == InputVerdict::Kind::kRun) return -1;
    if (rank == 0) std::fputs(mine.text.c_str(), stdout);
    std::fflush(stdout);
    return kExitOk;
  }
  if (kind_of(0) != kind_of(differing.front())) {  // some asked for --help, some did not
    if (rank == 0)
      print_error("ranks were started with different command lines: rank 0 " +
                  std::string(kind_of(0) == InputVerdict::Kind::kHelp ? "asked" : "did not ask") +
                  " for --help, rank " + std::to_string(differing.front()) +
                  " the opposite: start every rank with the same flags");
    return kExitUsage;
  }
  const std::string zero = broadcast_from_zero(document, rank, where);
  if (rank == differing.front()) {
    const JsonDifference d = first_difference(nlohmann::json::parse(zero), mine.agreement);
    print_error("ranks were started with different inputs: " + d.pointer + " is " + d.a_value + " on rank 0 but " +
                d.b_value + " on rank " + std::to_string(rank) + " (ranks differing from rank 0: " +
                rank_list(differing) + "): start every rank with the same config file, --set flags, environment " +
                "and files");
  }
  return kExitUsage;
}

}  // namespace trident
