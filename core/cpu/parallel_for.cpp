#include "core/cpu/parallel_for.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cpu/blas_threads.h"

namespace trident::cpu {

namespace {

// Workers sleep on a condition variable between jobs: idle workers cost no CPU (which matters when
// MPI ranks share cores). Chunks are claimed from a shared counter rather than bound to threads:
// right after a GEMM, OpenBLAS's own threads spin on the other core for a while, and a worker that
// is slow to be scheduled must not hold the caller up, so the caller keeps claiming chunks until
// none are left and only then waits for chunks already under way. Which thread runs a chunk does
// not change its range or its result. One job runs at a time; a call that finds the pool busy
// (another thread's job, or a nested call from inside a chunk) runs its chunks inline.
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
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &chunk_body;
      job_chunks_ = chunks;
      job_helpers_ = helpers;
      joined_ = 0;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    claim_chunks(chunk_body, chunks);
    std::unique_lock<std::mutex> lock(mu_);
    job_ = nullptr;  // late wakers must not join a finished job
    done_.wait(lock, [this] { return active_ == 0; });
    std::exception_ptr first = error_;
    error_ = nullptr;
    lock.unlock();
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
    std::uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = generation_;
    }
    for (;;) {
      const std::function<void(std::int64_t)>* job = nullptr;
      std::int64_t chunks = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (job_ == nullptr || joined_ >= job_helpers_) continue;  // finished, or enough helpers
        ++joined_;
        ++active_;
        job = job_;
        chunks = job_chunks_;
      }
      claim_chunks(*job, chunks);
      bool last = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        last = --active_ == 0;
      }
      if (last) done_.notify_one();
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<std::int64_t> next_{0};
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(std::int64_t)>* job_ = nullptr;
  std::int64_t job_chunks_ = 0;
  std::size_t job_helpers_ = 0, joined_ = 0;
  std::int64_t active_ = 0;
  std::uint64_t generation_ = 0;
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
  if (chunks == 1) return range(0);
  Pool& p = pool();
  if (!p.try_acquire()) {
    for (std::int64_t c = 0; c < chunks; ++c) range(c);
    return;
  }
  if (threads <= 0) threads = blas_threads();
  const auto helpers = static_cast<std::size_t>(std::clamp<std::int64_t>(threads, 1, chunks) - 1);
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
