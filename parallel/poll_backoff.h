// Waiting for something nobody signals — an MPI request, a CUDA event — means polling it. Polling
// flat out holds a core that another rank needs when ranks outnumber cores (oversubscribed CPU runs);
// sleeping from the first poll adds latency to operations that finish within microseconds.
// PollBackoff does both in turn, the one policy of every polled wait in parallel/ (the MPI
// backend's point-to-point requests, the NCCL backend's host waits):
//   elapsed <  50 µs  spin        (fast completions are seen at once)
//   elapsed < 500 µs  sched_yield (the core goes to whoever is runnable, we come straight back)
//   later             sleep 10 µs, doubling up to 200 µs (a long wait costs little CPU and
//                     is noticed within 200 µs of its end)
//
//   PollBackoff backoff;
//   while (!done()) { if (backoff.elapsed() > timeout) throw …; backoff.pause(); }
#pragma once

#include <chrono>

namespace trident {

class PollBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::chrono::microseconds kSpin{50};
  static constexpr std::chrono::microseconds kYield{500};
  static constexpr std::chrono::microseconds kFirstNap{10};
  static constexpr std::chrono::microseconds kMaxNap{200};

  PollBackoff() : start_(Clock::now()) {}

  // Call after each poll that found the thing not done yet.
  void pause();
  // Time since construction: how long the wait has lasted.
  Clock::duration elapsed() const { return Clock::now() - start_; }
  Clock::time_point start() const { return start_; }

 private:
  Clock::time_point start_;
  std::chrono::microseconds nap_ = kFirstNap;
};

}  // namespace trident
