#include "parallel/mpi/heartbeat.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "parallel/comm_checks.h"
#include "parallel/mpi/mpi_watchdog.h"

namespace trident::mpi {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTag = 7;
// A message: [kind, n, rank_1, silent_ms_1, …, rank_n, silent_ms_n] (n <= kMaxReported), fixed size.
constexpr int kWords = 2 + 2 * kMaxReported;
using Words = std::array<std::int32_t, kWords>;
enum : std::int32_t { kBeat = 1, kBye = 2 };

std::int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }
Clock::time_point from_ticks(std::int64_t n) { return Clock::time_point(Clock::duration(n)); }
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct Heartbeat::State {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  Clock::duration timeout{}, interval{}, suspect_after{};

  // When each peer was last heard from (rank 0: every peer; the others: rank 0 only), and whether
  // it said goodbye.
  std::vector<std::atomic<std::int64_t>> last_seen;
  std::vector<std::atomic<bool>> departed;
  std::atomic<std::int64_t> last_tick{0};  // the thread's own last turn
  // The last time this rank's own thread went unscheduled for too long (it was the stopped one):
  // when it resumed, and for how long it had not run.
  std::atomic<std::int64_t> self_stall_end{0}, self_stall_length{0};

  // Not rank 0: the silent ranks rank 0 last reported (rank, silence then), and when.
  std::mutex reported_mutex;
  std::vector<std::pair<int, double>> reported;
  Clock::time_point reported_at{};

  // Sends: one outstanding beat per peer (a stopped peer stops completing them; the next waits).
  struct Outgoing {
    MPI_Request request = MPI_REQUEST_NULL;
    Words words{};
  };
  std::vector<Outgoing> out;
  Words in{};
  MPI_Request recv = MPI_REQUEST_NULL;

  std::mutex wake_mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  State(MPI_Comm c, std::chrono::milliseconds t) : comm(c), timeout(t), last_seen(0), departed(0) {
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    interval = std::clamp<Clock::duration>(timeout / 10, std::chrono::milliseconds(50), std::chrono::seconds(1));
    suspect_after = std::max<Clock::duration>(4 * interval, std::chrono::seconds(1));
    last_seen = std::vector<std::atomic<std::int64_t>>(static_cast<std::size_t>(size));
    departed = std::vector<std::atomic<bool>>(static_cast<std::size_t>(size));
    const std::int64_t now = ticks(Clock::now());
    for (auto& t : last_seen) t.store(now);
    for (auto& d : departed) d.store(false);
    last_tick.store(now);
    out.resize(static_cast<std::size_t>(rank == 0 ? size : 1));
  }

  // The ranks silent for longer than `threshold` as (rank, seconds); empty while this rank's own
  // thread is behind (it cannot tell who was silent while it did not run itself).
  std::vector<std::pair<int, double>> silent(Clock::duration threshold) {
    std::vector<std::pair<int, double>> found;
    const Clock::time_point now = Clock::now();
    if (now - from_ticks(last_tick.load()) > suspect_after) return found;
    for (int r = 0; r < size; ++r) {
      if (r == rank || (rank != 0 && r != 0) || departed[static_cast<std::size_t>(r)].load()) continue;
      const Clock::duration quiet = now - from_ticks(last_seen[static_cast<std::size_t>(r)].load());
      if (quiet > threshold) found.emplace_back(r, seconds(quiet));
    }
    if (rank != 0) {
      std::lock_guard<std::mutex> lock(reported_mutex);
      for (const auto& [r, then] : reported) {
        const double quiet = then + seconds(now - reported_at);
        if (r != rank && quiet > seconds(threshold)) found.emplace_back(r, quiet);
      }
    }
    return found;
  }

  // How long this rank itself did not run, if that happened within the last timeout (0 otherwise):
  // its own thread is behind now, or it caught up from a stall recently.
  double own_stall() const {
    const Clock::time_point now = Clock::now();
    const Clock::duration behind = now - from_ticks(last_tick.load());
    if (behind > suspect_after) return seconds(behind);
    const std::int64_t end = self_stall_end.load();
    return end != 0 && now - from_ticks(end) < timeout ? seconds(Clock::duration(self_stall_length.load())) : 0.0;
  }

  void start() {
    MPI_Irecv(in.data(), kWords, MPI_INT32_T, MPI_ANY_SOURCE, kTag, comm, &recv);
    thread = std::thread([this] { run(); });
  }

  void run() {
    Clock::time_point next_send = Clock::now();
    std::unique_lock<std::mutex> lock(wake_mutex);
    while (!stopping) {
      lock.unlock();
      const Clock::time_point now = Clock::now();
      if (now - from_ticks(last_tick.load()) > suspect_after) {  // this rank was the stopped one
        self_stall_length.store((now - from_ticks(last_tick.load())).count());
        self_stall_end.store(ticks(now));
        forget(now);
      }
      last_tick.store(ticks(now));
      drain(now);
      if (now >= next_send) {
        send_beats();
        next_send = now + interval;
      }
      lock.lock();
      wake.wait_for(lock, interval / 2, [this] { return stopping; });
    }
  }

  void forget(Clock::time_point now) {
    for (auto& t : last_seen) t.store(ticks(now));
    std::lock_guard<std::mutex> lock(reported_mutex);
    reported.clear();
  }

  void drain(Clock::time_point now) {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      if (MPI_Test(&recv, &flag, &status) != MPI_SUCCESS || !flag) return;
      const int src = status.MPI_SOURCE;
      if (src >= 0 && src < size) {
        if (in[0] == kBye) departed[static_cast<std::size_t>(src)].store(true);
        if (in[0] == kBeat) last_seen[static_cast<std::size_t>(src)].store(ticks(now));
        if (in[0] == kBeat && rank != 0 && src == 0) {
          std::lock_guard<std::mutex> lock(reported_mutex);
          reported.clear();
          for (int i = 0; i < std::clamp(in[1], 0, kMaxReported); ++i)
            reported.emplace_back(in[2 + 2 * i], in[3 + 2 * i] / 1000.0);
          reported_at = now;
        }
      }
      MPI_Irecv(in.data(), kWords, MPI_INT32_T, MPI_ANY_SOURCE, kTag, comm, &recv);
    }
  }

  // Posts `words` to `peer` unless its previous message is still in flight.
  void post(Outgoing& o, int peer, const Words& words) {
    if (o.request != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&o.request, &done, MPI_STATUS_IGNORE);
      if (!done) return;
    }
    o.words = words;
    MPI_Isend(o.words.data(), kWords, MPI_INT32_T, peer, kTag, comm, &o.request);
  }

  void send_beats() {
    Words words{};
    words[0] = kBeat;
    if (rank != 0) return post(out[0], 0, words);
    for (const auto& [r, quiet] : silent(suspect_after)) {
      if (words[1] == kMaxReported) break;
      words[2 + 2 * words[1]] = r;
      words[3 + 2 * words[1]] = static_cast<std::int32_t>(std::min(quiet * 1000.0, 2e9));
      ++words[1];
    }
    for (int r = 1; r < size; ++r)
      if (!departed[static_cast<std::size_t>(r)].load()) post(out[static_cast<std::size_t>(r)], r, words);
  }

  // Goodbye to the peers that listen to this rank, then release everything MPI holds.
  // Returns false when a send could not be seen to complete (its buffer must then outlive us).
  bool finish() {
    Words bye{};
    bye[0] = kBye;
    for (int r = rank == 0 ? 1 : 0; r < (rank == 0 ? size : 1); ++r) {
      Outgoing& o = out[static_cast<std::size_t>(rank == 0 ? r : 0)];
      if (o.request != MPI_REQUEST_NULL) MPI_Wait(&o.request, MPI_STATUS_IGNORE);  // beats are eager: done
      o.words = bye;
      MPI_Isend(o.words.data(), kWords, MPI_INT32_T, r, kTag, comm, &o.request);
    }
    bool all_done = true;
    const Clock::time_point give_up = Clock::now() + std::chrono::milliseconds(200);
    for (Outgoing& o : out) {
      int done = o.request == MPI_REQUEST_NULL;
      while (!done && Clock::now() < give_up) {
        MPI_Test(&o.request, &done, MPI_STATUS_IGNORE);
        if (!done) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (!done) {
        MPI_Request_free(&o.request);
        all_done = false;
      }
    }
    MPI_Cancel(&recv);
    MPI_Wait(&recv, MPI_STATUS_IGNORE);
    MPI_Comm_free(&comm);
    return all_done;
  }
};

namespace {

// The heartbeat of this process, for the watchdog's queries.
std::mutex g_mutex;
std::shared_ptr<Heartbeat::State> g_current;

std::string describe(const std::vector<std::pair<int, double>>& silent) {
  std::string out;
  for (std::size_t i = 0; i < silent.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%srank %d for %.1f s", i ? ", " : "", silent[i].first, silent[i].second);
    out += buf;
  }
  return out;
}

}  // namespace

Heartbeat::Heartbeat(MPI_Comm comm, std::chrono::milliseconds timeout) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Comm dup = MPI_COMM_NULL;
  {
    const CallWatch watch("heartbeat setup (comm dup)", comm::where("heartbeat", rank, size), timeout);
    const int rc = MPI_Comm_dup(comm, &dup);
    TRIDENT_CHECK(rc == MPI_SUCCESS, "MPI_Comm_dup for the heartbeat failed with MPI error ", rc);
  }
  state_ = std::make_shared<State>(dup, timeout);
  if (size > 1) state_->start();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_current = state_;
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_current == state_) g_current.reset();
  }
  if (state_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> lock(state_->wake_mutex);
      state_->stopping = true;
    }
    state_->wake.notify_all();
    state_->thread.join();
    if (!state_->finish()) {
      // A send MPI may still read from: its buffer lives on (a few hundred bytes, once per process).
      static std::vector<std::shared_ptr<State>> kept;
      kept.push_back(state_);
    }
  } else {
    MPI_Comm_free(&state_->comm);
  }
}

std::chrono::milliseconds Heartbeat::interval() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(state_->interval);
}

std::string liveness_note() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_current) return "";
  if (const double own = g_current->own_stall(); own > 0) {
    char text[160];
    std::snprintf(text, sizeof text, "This rank (%d) itself did not run for %.1f s (stopped or frozen): the wait "
                  "above includes that time.", g_current->rank, own);
    return text;
  }
  const auto silent = g_current->silent(g_current->suspect_after);
  if (silent.empty()) return "";
  return "No heartbeat from " + describe(silent) + " (stopped, frozen, or its node is gone).";
}

std::string liveness_alarm() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_current) return "";
  const auto silent = g_current->silent(g_current->timeout);
  if (silent.empty()) return "";
  char limit[32];
  std::snprintf(limit, sizeof limit, "%.1f s", seconds(g_current->timeout));
  return "no heartbeat from " + describe(silent) + ", longer than the communication timeout (" + limit +
         ", TRIDENT_COMM_TIMEOUT_S): " + (silent.size() == 1 ? "it is" : "they are") +
         " stopped (kill -STOP, a debugger), frozen, or on a node that is gone, so the job cannot finish";
}

}  // namespace trident::mpi
