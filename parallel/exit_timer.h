// The last resort of the watchdogs (MPI's and NCCL's): once one decides the job must end, it starts
// this timer before trying to end the job cleanly (ncclCommAbort, MPI_Abort), so the process ends
// within `grace` even if those calls never come back.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace trident {

// How long a watchdog's clean abort gets before the timer ends the process.
inline constexpr std::chrono::seconds kAbortGrace{20};

// Ends the process with `code` after `grace`, saying so on stderr (`who`: "MPI watchdog"). A
// detached thread; if none can be started, the caller's own abort usually ends the process anyway.
inline void exit_after(std::chrono::seconds grace, int code, const char* who) noexcept {
  try {
    std::thread([grace, code, who] {
      std::this_thread::sleep_for(grace);
      std::fprintf(stderr, "trident: %s: the job did not end within %lld s of the abort; exiting\n", who,
                   static_cast<long long>(grace.count()));
      std::fflush(stderr);
      std::_Exit(code);
    }).detach();
  } catch (...) {
    // No thread to spare.
  }
}

}  // namespace trident
