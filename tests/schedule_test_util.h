// Helpers shared by the schedule tests (single-process, no model).
#pragma once

#include "schedules/analyzer.h"

namespace trident::testing_util {

// Costs of one chunk with the backward split: B = I + W; p2p latency and blocking-receive time.
inline ActionCosts split_costs(double f, double i, double w, double p2p = 0.0, double recv = 0.0) {
  ActionCosts c;
  c.f = f;
  c.i = i;
  c.w = w;
  c.b = i + w;
  c.p2p = p2p;
  c.recv = recv;
  return c;
}

}  // namespace trident::testing_util
