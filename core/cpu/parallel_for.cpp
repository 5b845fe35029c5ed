#include "core/cpu/parallel_for.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cpu/blas_threads.h"

namespace trident::cpu {

namespace {

// How long a worker keeps polling for the next job before it sleeps, and how long the caller polls
// for the last chunk to finish before it sleeps. A step issues its kernels back to back (a GEMM, a
// bias, a LayerNorm, …), and waking a sleeping thread costs ~100 µs on the VMs this runs on (measured:
// two 100 µs chunks took 240 µs through a sleeping worker), so a short poll keeps the pool warm across
// a step while an idle rank still sleeps. Ranks that share cores run one thread and never poll.
constexpr auto kWorkerPoll = std::chrono::microseconds(250);
constexpr auto kCallerPoll = std::chrono::milliseconds(20);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls ready() until it holds or `window` has passed; true if it held.
template <typename Ready>
bool poll_for(std::chrono::steady_clock::duration window, Ready ready) {
  const auto until = std::chrono::steady_clock::now() + window;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    if ((i & 255) == 255 && std::chrono::steady_clock::now() >= until) return ready();
    cpu_relax();
  }
}

// Chunks are claimed from a shared counter rather than bound to threads: a worker that is slow to
// be scheduled must not hold the caller up, so the caller keeps claiming chunks until none are left
// and only then waits for chunks already under way. Which thread runs a chunk does not change its
// range or its result. One job runs at a time; a call that finds the pool busy (another thread's
// job, or a nested call from inside a chunk) runs its chunks inline.
class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  // Serialises jobs; false when another job holds the pool. An atomic flag rather than a mutex
  // because a nested call comes from the thread that already holds it.
  bool try_acquire() {
    bool expected = false;
    return busy_.compare_exchange_strong(expected, true, std::memory_order_acquire);
  }
  void release() { busy_.store(false, std::memory_order_release); }

  // Runs chunks 0..chunks-1 on the caller and up to `helpers` workers; the caller holds busy_.
  void run(std::int64_t chunks, std::size_t helpers, const std::function<void(std::int64_t)>& chunk_body) {
    while (workers_.size() < helpers) workers_.emplace_back([this] { worker_loop(); });
    next_.store(0, std::memory_order_relaxed);
    bool sleepers = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &chunk_body;
      job_chunks_ = chunks;
      job_helpers_ = helpers;
      joined_ = 0;
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
      sleepers = sleepers_ > 0;
    }
    if (sleepers) wake_.notify_all();  // polling workers see the new generation without a syscall
    claim_chunks(chunk_body, chunks);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = nullptr;  // late joiners must not join a finished job
    }
    if (!poll_for(kCallerPoll, [this] { return active_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return active_.load(std::memory_order_acquire) == 0; });
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::exception_ptr first = error_;
    error_ = nullptr;
    if (first) std::rethrow_exception(first);
  }

 private:
  void claim_chunks(const std::function<void(std::int64_t)>& body, std::int64_t chunks) {
    for (std::int64_t c = next_.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next_.fetch_add(1, std::memory_order_relaxed)) {
      try {
        body(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void worker_loop() {
    std::uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      poll_for(kWorkerPoll, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      const std::function<void(std::int64_t)>* job = nullptr;
      std::int64_t chunks = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!stop_ && generation_.load(std::memory_order_relaxed) == seen) {
          ++sleepers_;
          wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
          --sleepers_;
        }
        if (stop_) return;
        seen = generation_.load(std::memory_order_relaxed);
        if (job_ == nullptr || joined_ >= job_helpers_) continue;  // finished, or enough helpers
        ++joined_;
        active_.fetch_add(1, std::memory_order_relaxed);
        job = job_;
        chunks = job_chunks_;
      }
      claim_chunks(*job, chunks);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);  // the caller may be between its check and its wait
        done_.notify_one();
      }
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<std::int64_t> next_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::int64_t> active_{0};  // workers inside the current job's chunks
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::int64_t)>* job_ = nullptr;
  std::int64_t job_chunks_ = 0;
  std::size_t job_helpers_ = 0, joined_ = 0;
  int sleepers_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

// Several chunks per thread so that, when one thread runs late, the others take up its share.
constexpr std::int64_t kChunksPerThread = 4;

}  // namespace

std::int64_t parallel_chunks(std::int64_t n, std::int64_t grain) {
  const std::int64_t threads = blas_threads();
  if (threads <= 1) return 1;
  const std::int64_t by_size = n / std::max<std::int64_t>(1, grain);
  return std::max<std::int64_t>(1, std::min<std::int64_t>(threads * kChunksPerThread, by_size));
}

void parallel_for_chunks(std::int64_t n, std::int64_t chunks,
                         const std::function<void(std::int64_t chunk, std::int64_t begin, std::int64_t end)>& body,
                         int threads) {
  if (n <= 0) return;
  chunks = std::clamp<std::int64_t>(chunks, 1, n);
  auto range = [&](std::int64_t c) { body(c, n * c / chunks, n * (c + 1) / chunks); };
  if (threads <= 0) threads = blas_threads();
  const auto helpers = static_cast<std::size_t>(std::clamp<std::int64_t>(threads, 1, chunks) - 1);
  Pool& p = pool();
  if (helpers == 0 || !p.try_acquire()) {  // one thread, or the pool is taken: all chunks here
    for (std::int64_t c = 0; c < chunks; ++c) range(c);
    return;
  }
  try {
    p.run(chunks, helpers, range);
  } catch (...) {
    p.release();
    throw;
  }
  p.release();
}

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t begin, std::int64_t end)>& body) {
  parallel_for_chunks(n, parallel_chunks(n, grain),
                      [&](std::int64_t, std::int64_t begin, std::int64_t end) { body(begin, end); });
}

}  // namespace trident::cpu
