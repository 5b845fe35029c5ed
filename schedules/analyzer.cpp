// The analyzer simulates the executor's semantics (dependencies.h) with modelled costs. Every stage
// runs its list in order and stops at the first action whose needs have not happened yet. Only a
// receive can wait on another stage (in a lowered schedule the cross-stage dependencies are exactly
// the receives); an action whose same-stage need has not run can never proceed, since the stage that
// would produce it is the one waiting. Ranks are swept until none moves: the times do not depend
// on the sweep order, because each action's time is a max over the times of what it needs.
#include "schedules/analyzer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "schedules/dependencies.h"
#include "schedules/lowering.h"

namespace trident {

double ActionCosts::of(ActionType t, int chunk) const {
  if (chunk >= 0 && chunk < static_cast<int>(per_chunk.size()) && t <= ActionType::kW)
    return per_chunk[static_cast<std::size_t>(chunk)][static_cast<std::size_t>(t)];
  switch (t) {
    case ActionType::kF: return f;
    case ActionType::kB: return b;
    case ActionType::kI: return i;
    case ActionType::kW: return w;
    case ActionType::kFB: TRIDENT_FAIL("ActionCosts::of: an overlapped FB has two halves; cost it with of(action)");
    default: return 0.0;  // communication is modelled by p2p latency, not by stage time
  }
}

double ActionCosts::of(const Action& a) const {
  double total = 0.0;
  for (const Action& half : parts(a)) total += of(half.type, half.chunk);
  return total;
}

namespace {

constexpr double kUnset = -1.0;
constexpr int kEvents = 5;  // the values of Event

class Simulator {
 public:
  Simulator(const Schedule& s, const ActionCosts& costs)
      : s_(s), costs_(costs), done_(static_cast<std::size_t>(kEvents * s.micro_batches * s.num_chunks()), kUnset),
        pc_(static_cast<std::size_t>(s.pp), 0), now_(static_cast<std::size_t>(s.pp), 0.0),
        timed_(static_cast<std::size_t>(s.pp)) {}

  // Runs every stage to its end; throws naming the stuck stages if they cannot all get there.
  void run() {
    for (bool moved = true; moved;) {
      moved = false;
      for (int r = 0; r < s_.pp; ++r)
        while (step(r)) moved = true;
    }
    std::ostringstream stuck;
    for (int r = 0; r < s_.pp; ++r) {
      const auto& list = s_.stages[static_cast<std::size_t>(r)];
      const std::size_t pc = pc_[static_cast<std::size_t>(r)];
      if (pc == list.size()) continue;
      stuck << "\n  stage " << r << " waits at position " << pc << " on " << list[pc].str() << " for "
            << describe(*missing(r, list[pc]));
    }
    const std::string msg = stuck.str();
    TRIDENT_CHECK(msg.empty(), "schedule '", s_.name, "' deadlocks: no stage can make progress", msg,
                  "\ncheck the schedule with check_valid() (validator.h), which names the order at fault");
  }

  std::vector<std::vector<TimedAction>>& timed() { return timed_; }

 private:
  // When the event happened; kUnset until it does.
  double& done(const EventKey& k) {
    const auto at = (static_cast<int>(k.event) * s_.micro_batches + k.mb) * s_.num_chunks() + k.chunk;
    return done_[static_cast<std::size_t>(at)];
  }

  std::optional<EventKey> missing(int r, const Action& a) {
    for (const EventKey& k : needs(s_, r, a))
      if (done(k) == kUnset) return k;
    return std::nullopt;
  }

  // The event in the terms of the action that makes it, and the stage that runs that action.
  std::string describe(const EventKey& k) const {
    static constexpr const char* kMaker[kEvents] = {"F", "B/I", "B/W", "SEND_F", "SEND_B"};
    return std::string(kMaker[static_cast<int>(k.event)]) + std::to_string(k.mb) + "." + std::to_string(k.chunk) +
           " on stage " + std::to_string(s_.stage_of(k.chunk)) +
           (k.event == Event::kSentF || k.event == Event::kSentB ? ", which has not been sent" : ", which has not run");
  }

  // Runs stage r's next action if what it needs has happened; false if r is finished or must wait.
  bool step(int r) {
    const auto ru = static_cast<std::size_t>(r);
    const auto& list = s_.stages[ru];
    if (pc_[ru] == list.size()) return false;
    const Action& a = list[pc_[ru]];
    double ready = now_[ru];
    for (const EventKey& k : needs(s_, r, a)) {
      const double t = done(k);
      if (t == kUnset) return false;
      // Only a receive's input comes from another stage; it is usable p2p after the send.
      ready = std::max(ready, a.is_recv() ? t + costs_.p2p : t);
    }
    double end = ready + costs_.of(a);
    // A receive posted only when the stage reaches it holds the stage for `recv` from then on.
    if (a.is_recv()) {
      end = std::max(now_[ru] + costs_.recv, ready);
      ready = end - costs_.recv;  // >= now: the stage idles until the transfer can start
    }
    for (const EventKey& k : makes(a)) done(k) = end;
    timed_[ru].push_back({r, a, ready, end});
    now_[ru] = end;
    ++pc_[ru];
    return true;
  }

  const Schedule& s_;
  const ActionCosts& costs_;
  std::vector<double> done_;  // by (event, micro-batch, chunk)
  std::vector<std::size_t> pc_;
  std::vector<double> now_;
  std::vector<std::vector<TimedAction>> timed_;
};

// The simulator indexes its tables by micro-batch and chunk, so out-of-range actions are refused
// here, with the stage and position, rather than read out of bounds.
void check_shape(const Schedule& s, const ActionCosts& costs) {
  TRIDENT_CHECK(s.pp >= 1 && s.v >= 1 && s.micro_batches >= 1, "analyze: schedule '", s.name, "' has pp=", s.pp,
                " v=", s.v, " micro_batches=", s.micro_batches, "; all must be at least 1");
  TRIDENT_CHECK(s.placement != Placement::kVShape || s.v == 2, "analyze: schedule '", s.name,
                "' uses the V placement with v=", s.v, "; the V placement holds exactly 2 chunks per stage");
  TRIDENT_CHECK(s.stages.size() == static_cast<std::size_t>(s.pp), "analyze: schedule '", s.name, "' has ",
                s.stages.size(), " stage lists for pp=", s.pp);
  for (const auto& pc : costs.per_chunk)
    for (const double c : pc)
      TRIDENT_CHECK(std::isfinite(c) && c >= 0.0, "analyze: per-chunk costs must be finite and non-negative, got ", c);
  for (const double c : {costs.f, costs.b, costs.i, costs.w, costs.p2p, costs.recv})
    TRIDENT_CHECK(std::isfinite(c) && c >= 0.0, "analyze: costs must be finite and non-negative, got f=", costs.f,
                  " b=", costs.b, " i=", costs.i, " w=", costs.w, " p2p=", costs.p2p, " recv=", costs.recv);
  const int last = s.num_chunks() - 1;
  for (int r = 0; r < s.pp; ++r) {
    const auto& list = s.stages[static_cast<std::size_t>(r)];
    for (std::size_t k = 0; k < list.size(); ++k) {
      for (const Action& a : parts(list[k])) {
        const bool bad_range = a.mb < 0 || a.mb >= s.micro_batches || a.chunk < 0 || a.chunk > last;
        // Each transfer names a chunk of this stage, and a neighbour that exists.
        const bool no_peer = (a.type == ActionType::kRecvF && a.chunk == 0) ||
                             (a.type == ActionType::kSendB && a.chunk == 0) ||
                             (a.type == ActionType::kSendF && a.chunk == last) ||
                             (a.type == ActionType::kRecvB && a.chunk == last);
        TRIDENT_CHECK(!bad_range && !no_peer && s.stage_of(a.chunk) == r, "analyze: schedule '", s.name, "' stage ", r,
                      " position ", k, ": ", a.str(),
                      bad_range ? " is outside the step's micro-batches or chunks"
                      : no_peer ? " has no neighbouring chunk to exchange with"
                                : " names a chunk this stage does not hold");
      }
    }
  }
}

}  // namespace

Analysis analyze(const Schedule& s, const ActionCosts& costs) {
  check_shape(s, costs);
  const Schedule lowered = s.lowered() ? s : lower(s);
  Simulator sim(lowered, costs);
  sim.run();

  Analysis out;
  const auto pp = static_cast<std::size_t>(s.pp);
  out.busy.assign(pp, 0.0);
  out.span.assign(pp, 0.0);
  out.peak_stash.assign(pp, 0);
  for (std::size_t r = 0; r < pp; ++r) {
    int stash = 0;
    double first = -1.0, last = 0.0;
    for (const TimedAction& t : sim.timed()[r]) {
      out.makespan = std::max(out.makespan, t.end);
      if (t.action.is_compute()) {
        out.busy[r] += t.end - t.start;
        if (first < 0.0) first = t.start;
        last = t.end;
      }
      // A forward stashes its activations; B or W (not I, whose W still needs them) frees them.
      // An FB's forward half stashes before its backward half frees: both are held at once.
      for (const Action& half : parts(t.action)) {
        if (half.type == ActionType::kF) out.peak_stash[r] = std::max(out.peak_stash[r], ++stash);
        if (half.type == ActionType::kB || half.type == ActionType::kW) --stash;
      }
      out.timeline.push_back(t);
    }
    out.span[r] = first < 0.0 ? 0.0 : last - first;
  }
  for (std::size_t r = 0; r < pp; ++r) {
    out.bubble.push_back(out.makespan - out.busy[r]);
    out.bubble_fraction.push_back(out.makespan > 0.0 ? out.bubble[r] / out.makespan : 0.0);
    out.span_bubble.push_back(out.span[r] - out.busy[r]);
  }
  return out;
}

}  // namespace trident
