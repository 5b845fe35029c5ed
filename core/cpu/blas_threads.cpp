#include "core/cpu/blas_threads.h"

#include <cblas.h>  // OpenBLAS's cblas.h declares openblas_set_num_threads / openblas_get_num_threads

#include <atomic>

#include "core/error.h"

namespace trident {

namespace {

// OpenBLAS's start-up thread count becomes the pool's; OpenBLAS is set to one thread in the same
// step, so no code path ever sees OpenBLAS threaded.
std::atomic<int>& pool_threads() {
  static std::atomic<int> threads = [] {
    const int started = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return started;
  }();
  return threads;
}

}  // namespace

void set_blas_threads(int threads) {
  TRIDENT_CHECK(threads >= 1, "set_blas_threads: thread count must be >= 1, got ", threads);
  pool_threads().store(threads, std::memory_order_relaxed);
}

int blas_threads() { return pool_threads().load(std::memory_order_relaxed); }

}  // namespace trident
