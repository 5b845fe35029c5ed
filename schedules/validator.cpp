#include "schedules/validator.h"

#include <map>
#include <tuple>
#include <set>
#include <sstream>

#include "core/error.h"
#include "schedules/dependencies.h"
#include "schedules/lowering.h"

namespace trident {

namespace {

struct Checker {
  const Schedule& s;
  std::vector<ValidationIssue> issues;

  void fail(int stage, int pos, const Action* a, const std::string& msg) {
    std::string text = msg;
    if (a) text = a->str() + ": " + msg;
    issues.push_back({stage, pos, text});
  }

  // Indices, ownership, and that the stage lists match the header.
  void check_shape() {
    if (static_cast<int>(s.stages.size()) != s.pp)
      fail(-1, -1, nullptr, "has " + std::to_string(s.stages.size()) + " stage lists but pp=" + std::to_string(s.pp));
    if (s.placement == Placement::kVShape && s.v != 2) fail(-1, -1, nullptr, "the V placement needs v=2");
    for (int r = 0; r < static_cast<int>(s.stages.size()); ++r) {
      const auto& l = s.stages[static_cast<std::size_t>(r)];
      for (int i = 0; i < static_cast<int>(l.size()); ++i) {
        const Action& a = l[static_cast<std::size_t>(i)];
        for (const Action& h : parts(a)) {
          if (h.mb < 0 || h.mb >= s.micro_batches)
            fail(r, i, &a, "micro-batch " + std::to_string(h.mb) + " is outside [0, " + std::to_string(s.micro_batches) + ")");
          else if (h.chunk < 0 || h.chunk >= s.num_chunks())
            fail(r, i, &a, "chunk " + std::to_string(h.chunk) + " is outside [0, " + std::to_string(s.num_chunks()) + ")");
          else if (s.stage_of(h.chunk) != r)
            fail(r, i, &a, "chunk " + std::to_string(h.chunk) + " is held by stage " + std::to_string(s.stage_of(h.chunk)) +
                               ", not this stage");
        }
        // An overlapped pair's halves may run concurrently on a device: neither may feed the other.
        if (a.type == ActionType::kFB && a.mb == a.b_mb)
          fail(r, i, &a, "overlaps a forward and a backward of the same micro-batch; an FB pairs two different ones");
      }
    }
  }

  // Every (mb, chunk) has one F and one B, or one I and one W; B/I after F; W after I.
  void check_compute() {
    std::map<std::pair<int, int>, std::map<ActionType, std::pair<int, int>>> seen;  // -> type -> (count, position)
    for (int r = 0; r < s.pp; ++r) {
      const auto& l = s.stages[static_cast<std::size_t>(r)];
      for (int i = 0; i < static_cast<int>(l.size()); ++i) {
        if (!l[static_cast<std::size_t>(i)].is_compute()) continue;
        for (const Action& a : parts(l[static_cast<std::size_t>(i)])) {
          auto& slot = seen[{a.mb, a.chunk}];
          auto& [count, pos] = slot[a.type];
          if (++count > 1) {
            fail(r, i, &a, "is repeated (first at position " + std::to_string(pos) + ")");
            continue;
          }
          pos = i;
          if ((a.type == ActionType::kB || a.type == ActionType::kI) && !slot.count(ActionType::kF))
            fail(r, i, &a, "runs before its forward F" + std::to_string(a.mb) + "." + std::to_string(a.chunk));
          if (a.type == ActionType::kW && !slot.count(ActionType::kI))
            fail(r, i, &a, "runs before its input-gradient half I" + std::to_string(a.mb) + "." + std::to_string(a.chunk));
        }
      }
    }
    for (int mb = 0; mb < s.micro_batches; ++mb) {
      for (int c = 0; c < s.num_chunks(); ++c) {
        auto it = seen.find({mb, c});
        const std::string what = std::to_string(mb) + "." + std::to_string(c);
        const int owner = s.stage_of(c);
        if (it == seen.end() || !it->second.count(ActionType::kF)) {
          fail(owner, -1, nullptr, "F" + what + " is missing");
          continue;
        }
        const auto& t = it->second;
        if (s.forward_only) {
          if (t.size() > 1) fail(owner, -1, nullptr, "micro-batch " + what + " has a backward in a forward-only schedule");
          continue;
        }
        const bool full = t.count(ActionType::kB), split = t.count(ActionType::kI) || t.count(ActionType::kW);
        if (full && split) fail(owner, -1, nullptr, "micro-batch " + what + " has both B and I/W");
        else if (!full && !split) fail(owner, -1, nullptr, "B" + what + " (or I and W) is missing");
        else if (split && !t.count(ActionType::kI)) fail(owner, -1, nullptr, "I" + what + " is missing");
        else if (split && !t.count(ActionType::kW)) fail(owner, -1, nullptr, "W" + what + " is missing");
      }
    }
  }

  // The communication of a lowered schedule is exactly what lowering would write, in any order
  // that keeps a receive before the action it feeds and a send after the action it ships.
  void check_communication() {
    const Schedule want = lower(strip_communication(s));
    for (int r = 0; r < s.pp; ++r) {
      std::multiset<std::tuple<int, int, int>> expected, got;
      for (const Action& a : want.stages[static_cast<std::size_t>(r)])
        if (!a.is_compute()) expected.insert({static_cast<int>(a.type), a.mb, a.chunk});
      const auto& l = s.stages[static_cast<std::size_t>(r)];
      for (int i = 0; i < static_cast<int>(l.size()); ++i) {
        const Action& a = l[static_cast<std::size_t>(i)];
        if (a.is_compute()) continue;
        const auto k = std::tuple{static_cast<int>(a.type), a.mb, a.chunk};
        got.insert(k);
        if (got.count(k) > 1) fail(r, i, &a, "is repeated");
        else if (!expected.count(k))
          fail(r, i, &a, a.is_send() ? "sends to no matching receive (no neighbouring chunk on another stage)"
                                     : "receives from no matching send (no neighbouring chunk on another stage)");
      }
      check_order(r, l);
      for (const auto& k : expected) {
        if (got.count(k)) continue;
        const Action a{static_cast<ActionType>(std::get<0>(k)), std::get<1>(k), std::get<2>(k)};
        fail(r, -1, &a, a.is_send() ? "is missing: its receive on the peer would never complete"
                                    : "is missing: the transfer from the peer has no receive");
      }
    }
  }

  // A receive comes before the compute action that consumes it; a send after the one it ships.
  void check_order(int r, const std::vector<Action>& l) {
    std::map<std::tuple<bool, int, int>, int> compute_pos;  // (is forward, mb, chunk) -> position
    for (int i = 0; i < static_cast<int>(l.size()); ++i) {
      for (const Action& a : parts(l[static_cast<std::size_t>(i)]))
        if (a.type == ActionType::kF || a.is_backward_input()) compute_pos[{a.type == ActionType::kF, a.mb, a.chunk}] = i;
    }
    for (int i = 0; i < static_cast<int>(l.size()); ++i) {
      const Action& a = l[static_cast<std::size_t>(i)];
      if (a.is_compute()) continue;
      const bool forward = a.type == ActionType::kRecvF || a.type == ActionType::kSendF;
      auto it = compute_pos.find({forward, a.mb, a.chunk});
      if (it == compute_pos.end()) continue;  // reported as missing compute elsewhere
      const std::string served = std::string(forward ? "F" : "B/I") + std::to_string(a.mb) + "." + std::to_string(a.chunk);
      if (a.is_recv() && it->second < i) fail(r, i, &a, "comes after " + served + " (position " + std::to_string(it->second) + "), which needs it");
      if (a.is_send() && it->second > i) fail(r, i, &a, "comes before " + served + " (position " + std::to_string(it->second) + "), which produces it");
    }
  }

  // Lock-step simulation under the executor's semantics; no stage able to move = deadlock.
  void check_deadlock(const Schedule& lowered) {
    std::set<EventKey> happened;
    std::vector<std::size_t> pc(static_cast<std::size_t>(s.pp), 0);
    bool progress = true;
    while (progress) {
      progress = false;
      for (int r = 0; r < s.pp; ++r) {
        const auto& l = lowered.stages[static_cast<std::size_t>(r)];
        auto& i = pc[static_cast<std::size_t>(r)];
        while (i < l.size()) {
          bool ready = true;
          for (const EventKey& e : needs(lowered, r, l[i])) ready = ready && happened.count(e);
          if (!ready) break;
          for (const EventKey& e : makes(l[i])) happened.insert(e);
          ++i;
          progress = true;
        }
      }
    }
    std::ostringstream stuck;
    int n = 0;
    for (int r = 0; r < s.pp; ++r) {
      const auto i = pc[static_cast<std::size_t>(r)];
      if (i < lowered.stages[static_cast<std::size_t>(r)].size()) {
        const Action& a = lowered.stages[static_cast<std::size_t>(r)][i];
        stuck << (n++ ? ", " : "") << "stage " << r << " at position " << i << " (" << a.str() << ")";
      }
    }
    if (n > 0) fail(-1, -1, nullptr, "deadlocks: every unfinished stage waits on another: " + stuck.str());
  }
};

}  // namespace

std::vector<ValidationIssue> validate(const Schedule& s) {
  Checker c{s, {}};
  c.check_shape();
  if (!c.issues.empty()) return c.issues;
  c.check_compute();
  if (!c.issues.empty()) return c.issues;
  if (s.lowered()) {
    c.check_communication();
    if (!c.issues.empty()) return c.issues;
  }
  c.check_deadlock(s.lowered() ? s : lower(s));
  return c.issues;
}

void check_valid(const Schedule& s) {
  const auto issues = validate(s);
  if (issues.empty()) return;
  std::ostringstream os;
  os << "schedule '" << s.name << "' (pp=" << s.pp << " v=" << s.v << " micro_batches=" << s.micro_batches
     << ") is invalid:";
  for (std::size_t i = 0; i < issues.size() && i < 10; ++i) {
    const auto& e = issues[i];
    os << "\n  ";
    if (e.stage >= 0) os << "stage " << e.stage;
    if (e.position >= 0) os << " position " << e.position;
    os << (e.stage >= 0 ? ": " : "") << e.message;
  }
  if (issues.size() > 10) os << "\n  … and " << issues.size() - 10 << " more";
  TRIDENT_FAIL(os.str());
}

}  // namespace trident
