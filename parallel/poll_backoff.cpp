#include "parallel/poll_backoff.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace trident {

void PollBackoff::pause() {
  const Clock::duration waited = elapsed();
  if (waited < kSpin) return;
  if (waited < kYield) {
    sched_yield();
    return;
  }
  std::this_thread::sleep_for(nap_);
  nap_ = std::min(nap_ * 2, kMaxNap);
}

}  // namespace trident
