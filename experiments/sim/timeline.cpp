// The pipeline DES. Each action's needs and makes (schedules/dependencies.h) are flattened once
// into event indices, so the simulation itself allocates nothing per action.
//
// Dedicated devices: the analyzer's sweep — each stage runs as far as its needs allow, stages are
// swept until none moves; an action starts at max(stage free, needs) and the result does not
// depend on the sweep order. Shared cores: a time-ordered loop — at each instant every stage that
// can start does, then time advances to the next completion or arrival, with every running action
// progressing at the shared rate in between.
#include "experiments/sim/timeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "schedules/dependencies.h"
#include "schedules/lowering.h"

namespace trident {

namespace {

constexpr double kUnset = -1.0;
constexpr int kEvents = 5;

// One action of a lowered list with its dependencies as indices into the event table.
struct Step {
  Action action;
  int needs[4];
  int n_needs = 0;
  int makes[4];
  int n_makes = 0;
  double cost = 0.0;       // seconds on the compute stream (0 for send/recv)
  double transfer = 0.0;   // receives: transfer time after the matching send
  double hold = 0.0;       // receives: time the receive holds the stage once reached
  double gather = 0.0;     // ZeRO-3: parameter gathers this action needs first
  int final_chunk = -1;    // the chunk whose gradients this action makes final
};

class Des {
 public:
  Des(const Schedule& s, const TimelineCosts& c) : s_(s), costs_(c) {
    const int chunks = s.num_chunks();
    TRIDENT_CHECK(static_cast<int>(c.action_s.size()) == chunks, "simulate_pipeline: costs for ",
                  c.action_s.size(), " chunks, schedule has ", chunks);
    done_.assign(static_cast<std::size_t>(kEvents * s.micro_batches * chunks), kUnset);
    build_steps();
  }

  PipelineTimeline run() {
    const auto pp = static_cast<std::size_t>(s_.pp);
    out_.stages.assign(pp, {});
    for (StageTimeline& st : out_.stages) {
      st.final_start.assign(static_cast<std::size_t>(s_.num_chunks()), -1.0);
      st.final_end.assign(static_cast<std::size_t>(s_.num_chunks()), -1.0);
      st.final_action.assign(static_cast<std::size_t>(s_.num_chunks()), Action{});
    }
    pc_.assign(pp, 0);
    free_.assign(pp, 0.0);
    dp_free_.assign(pp, 0.0);
    prev_start_.assign(pp, 0.0);
    stash_.assign(pp, 0);
    if (costs_.sharing.enabled) run_shared();
    else run_dedicated();
    check_finished();
    for (StageTimeline& st : out_.stages) out_.makespan = std::max(out_.makespan, st.end);
    return std::move(out_);
  }

 private:
  int index(const EventKey& k) const {
    return (static_cast<int>(k.event) * s_.micro_batches + k.mb) * s_.num_chunks() + k.chunk;
  }

  double single_cost(const Action& a) const {
    const auto& row = costs_.action_s[static_cast<std::size_t>(a.chunk)];
    if (a.type == ActionType::kB && row[static_cast<std::size_t>(ActionType::kB)] <= 0.0)
      return row[static_cast<std::size_t>(ActionType::kI)] + row[static_cast<std::size_t>(ActionType::kW)];
    return row[static_cast<std::size_t>(a.type)];
  }

  void build_steps() {
    // The action of each chunk that makes its gradients final: its last W or B in list order.
    std::vector<std::pair<int, std::size_t>> final_at(static_cast<std::size_t>(s_.num_chunks()), {-1, 0});
    steps_.resize(static_cast<std::size_t>(s_.pp));
    for (int r = 0; r < s_.pp; ++r) {
      const auto& list = s_.stages[static_cast<std::size_t>(r)];
      auto& steps = steps_[static_cast<std::size_t>(r)];
      steps.reserve(list.size());
      for (std::size_t k = 0; k < list.size(); ++k) {
        const Action& a = list[k];
        Step st;
        st.action = a;
        for (const EventKey& e : needs(s_, r, a)) st.needs[st.n_needs++] = index(e);
        for (const EventKey& e : makes(a)) st.makes[st.n_makes++] = index(e);
        if (a.is_recv()) {
          const int from = a.type == ActionType::kRecvF ? a.chunk - 1 : a.chunk;
          st.transfer = costs_.p2p_s.empty() ? 0.0 : costs_.p2p_s[static_cast<std::size_t>(from)];
          st.hold = costs_.recv_hold_s.empty() ? 0.0 : costs_.recv_hold_s[static_cast<std::size_t>(from)];
        }
        if (a.is_compute()) {
          for (const Action& half : parts(a)) {
            st.cost += single_cost(half);
            if (!costs_.gather_s.empty() && half.type != ActionType::kW)
              st.gather += costs_.gather_s[static_cast<std::size_t>(half.chunk)];
            if (half.type == ActionType::kB || half.type == ActionType::kW)
              final_at[static_cast<std::size_t>(half.chunk)] = {r, k};
          }
        }
        steps.push_back(st);
      }
    }
    for (int c = 0; c < s_.num_chunks(); ++c) {
      const auto [r, k] = final_at[static_cast<std::size_t>(c)];
      if (r < 0) continue;
      Step& st = steps_[static_cast<std::size_t>(r)][k];
      st.final_chunk = c;
      if (!costs_.final_extra_s.empty()) st.cost += costs_.final_extra_s[static_cast<std::size_t>(c)];
    }
  }

  // When step `st` can start on its stage, or kUnset if a need has not happened yet.
  double ready_time(int r, const Step& st) const {
    double ready = free_[static_cast<std::size_t>(r)];
    for (int i = 0; i < st.n_needs; ++i) {
      const double t = done_[static_cast<std::size_t>(st.needs[i])];
      if (t == kUnset) return kUnset;
      ready = std::max(ready, st.action.is_recv() ? t + st.transfer : t);
    }
    return ready;
  }

  void finish(int r, const Step& st, double start, double end) {
    StageTimeline& out = out_.stages[static_cast<std::size_t>(r)];
    for (int i = 0; i < st.n_makes; ++i) done_[static_cast<std::size_t>(st.makes[i])] = end;
    out.actions.push_back({r, st.action, start, end});
    out.end = end;
    if (st.action.is_compute()) out.compute_s += end - start;
    if (st.action.is_recv()) {
      out.recv_wait_s += end - start;
      out.transfer_wait_s += std::min(end - start, std::max(st.transfer, st.hold));
    }
    if (st.final_chunk >= 0) {
      out.final_start[static_cast<std::size_t>(st.final_chunk)] = start;
      out.final_end[static_cast<std::size_t>(st.final_chunk)] = end;
      out.final_action[static_cast<std::size_t>(st.final_chunk)] = st.action;
    }
    // A forward stashes its activations; B or W (not I, whose W still needs them) frees them. An
    // FB's forward half stashes before its backward half frees: both are held at once.
    int& stash = stash_[static_cast<std::size_t>(r)];
    if (st.action.is_compute())
      for (const Action& half : parts(st.action)) {
        if (half.type == ActionType::kF) out.peak_stash = std::max(out.peak_stash, ++stash);
        if (half.type == ActionType::kB || half.type == ActionType::kW) --stash;
      }
    free_[static_cast<std::size_t>(r)] = end;
    ++pc_[static_cast<std::size_t>(r)];
  }

  void run_dedicated() {
    for (bool moved = true; moved;) {
      moved = false;
      for (int r = 0; r < s_.pp; ++r) {
        const auto& steps = steps_[static_cast<std::size_t>(r)];
        while (pc_[static_cast<std::size_t>(r)] < steps.size()) {
          const Step& st = steps[pc_[static_cast<std::size_t>(r)]];
          double start = ready_time(r, st);
          if (start == kUnset) break;
          if (st.gather > 0.0) start = after_gather(r, st, start);
          // A receive spans its wait: from when the stage reached it to the arrival (and its hold).
          const double reached = free_[static_cast<std::size_t>(r)];
          if (st.action.is_recv()) {
            finish(r, st, reached, std::max(start, reached + st.hold));
            continue;
          }
          if (st.action.is_compute()) prev_start_[static_cast<std::size_t>(r)] = start;
          finish(r, st, start, start + st.cost);
          moved = true;
        }
      }
    }
  }

  // ZeRO-3: the action's gathers run on the stage's DP stream, issued when the previous action
  // started; returns when the action can start given them.
  double after_gather(int r, const Step& st, double ready) {
    const auto ru = static_cast<std::size_t>(r);
    const double end = std::max(dp_free_[ru], prev_start_[ru]) + st.gather;
    dp_free_[ru] = end;
    out_.stages[ru].gather_wait_s += std::max(0.0, end - ready);
    return std::max(ready, end);
  }

  // Processor sharing over the node's cores: rate of a running action given k running stages.
  double rate(int running) const {
    const CpuSharing& sh = costs_.sharing;
    const double demand = static_cast<double>(running) * sh.ranks_per_stage * sh.threads_per_rank;
    return demand <= sh.cores ? 1.0 : sh.cores / demand;
  }

  void run_shared() {
    const auto pp = static_cast<std::size_t>(s_.pp);
    std::vector<double> remaining(pp, 0.0), started(pp, 0.0), reached(pp, 0.0), gather_end(pp, -1.0);
    std::vector<bool> running(pp, false);
    double now = 0.0;
    while (true) {
      // Start (or complete, for zero-time actions) everything that can go at `now`.
      double next_wake = std::numeric_limits<double>::infinity();
      for (bool moved = true; moved;) {
        moved = false;
        next_wake = std::numeric_limits<double>::infinity();
        for (int r = 0; r < s_.pp; ++r) {
          const auto ru = static_cast<std::size_t>(r);
          const auto& steps = steps_[ru];
          while (!running[ru] && pc_[ru] < steps.size()) {
            const Step& st = steps[pc_[ru]];
            free_[ru] = std::max(free_[ru], reached[ru]);
            double ready = ready_time(r, st);
            if (ready == kUnset) break;
            if (st.action.is_recv()) ready = std::max(ready, reached[ru] + st.hold);
            if (ready > now) {
              next_wake = std::min(next_wake, ready);
              break;
            }
            if (st.gather > 0.0) {
              if (gather_end[ru] < 0.0) gather_end[ru] = after_gather(r, st, now);
              if (gather_end[ru] > now) {
                next_wake = std::min(next_wake, gather_end[ru]);
                break;
              }
              gather_end[ru] = -1.0;
            }
            if (st.cost <= 0.0) {
              finish(r, st, st.action.is_recv() ? reached[ru] : now, now);
              reached[ru] = now;
            } else {
              prev_start_[ru] = now;
              running[ru] = true;
              remaining[ru] = st.cost;
              started[ru] = now;
            }
            moved = true;
          }
        }
      }
      int n_running = 0;
      for (bool b : running) n_running += b ? 1 : 0;
      if (n_running == 0 && !std::isfinite(next_wake)) return;  // finished, or stuck (checked after)
      const double r = rate(n_running);
      double next = next_wake;
      for (std::size_t i = 0; i < pp; ++i)
        if (running[i]) next = std::min(next, now + remaining[i] / r);
      for (std::size_t i = 0; i < pp; ++i) {
        if (!running[i]) continue;
        remaining[i] -= (next - now) * r;
        if (remaining[i] <= 1e-12 * std::max(1.0, next)) {
          running[i] = false;
          const int ri = static_cast<int>(i);
          finish(ri, steps_[i][pc_[i]], started[i], next);
          reached[i] = next;
        }
      }
      now = next;
    }
  }

  void check_finished() const {
    std::ostringstream stuck;
    for (int r = 0; r < s_.pp; ++r) {
      const auto& steps = steps_[static_cast<std::size_t>(r)];
      const std::size_t pc = pc_[static_cast<std::size_t>(r)];
      if (pc < steps.size()) stuck << "\n  stage " << r << " waits at position " << pc << " on " << steps[pc].action.str();
    }
    const std::string msg = stuck.str();
    TRIDENT_CHECK(msg.empty(), "simulate: schedule '", s_.name, "' deadlocks: no stage can make progress", msg);
  }

  const Schedule& s_;
  const TimelineCosts& costs_;
  std::vector<std::vector<Step>> steps_;
  std::vector<double> done_;
  std::vector<std::size_t> pc_;
  std::vector<double> free_;
  std::vector<double> dp_free_, prev_start_;  // ZeRO-3 gathers: DP stream free, last compute start
  std::vector<int> stash_;
  PipelineTimeline out_;
};

}  // namespace

PipelineTimeline simulate_pipeline(const Schedule& schedule, const TimelineCosts& costs) {
  const Schedule lowered = schedule.lowered() ? schedule : lower(schedule);
  return Des(lowered, costs).run();
}

TimelineCosts costs_from(const ActionCosts& c, const Schedule& s) {
  TimelineCosts out;
  for (int chunk = 0; chunk < s.num_chunks(); ++chunk)
    out.action_s.push_back({c.of(ActionType::kF, chunk), c.of(ActionType::kB, chunk), c.of(ActionType::kI, chunk),
                            c.of(ActionType::kW, chunk)});
  out.p2p_s.assign(static_cast<std::size_t>(s.num_chunks()), c.p2p);
  out.recv_hold_s.assign(static_cast<std::size_t>(s.num_chunks()), c.recv);
  return out;
}

}  // namespace trident
