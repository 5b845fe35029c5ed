// A small persistent worker pool for the CPU op table's pointwise and row-wise kernels. It spreads
// work over blas_threads() threads, so a rank that OpenBLAS runs single-threaded (MPI runs with
// OPENBLAS_NUM_THREADS=1) stays single-threaded here too. Workers are created once and reused.
//
// Splits are deterministic: [0, n) is cut into `chunks` contiguous ranges of near-equal size, the
// same every call for the same n and chunk count, so a kernel whose per-element math does not
// depend on the split gives bit-identical results run to run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

namespace trident::cpu {

// How many chunks parallel_for cuts [0, n) into: up to 4 per blas_threads() thread, at most
// n / grain, at least 1 (so n < 2·grain runs inline on the caller, as does everything when
// blas_threads() is 1). Reductions size their per-chunk partials with it.
std::int64_t parallel_chunks(std::int64_t n, std::int64_t grain);

// Runs body(chunk, begin, end) for each of `chunks` contiguous ranges of [0, n) on the caller and
// up to threads - 1 pool workers (threads <= 0: blas_threads()). The ranges depend only on n and
// chunks, and each chunk runs exactly once, on one thread. The first exception a chunk throws is
// rethrown here after every chunk has finished.
void parallel_for_chunks(std::int64_t n, std::int64_t chunks,
                         const std::function<void(std::int64_t chunk, std::int64_t begin, std::int64_t end)>& body,
                         int threads = 0);

// body(begin, end) over parallel_chunks(n, grain) ranges of [0, n). Kernels capture by value ([=]):
// a float captured by reference may alias the output array, which stops GCC vectorising the loop.
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t begin, std::int64_t end)>& body);

// Row grain for a row-wise kernel over rows of `cols` values: enough rows that a chunk has at
// least kMinChunkElems elements, so small tensors stay inline where a hand-off would cost more.
inline constexpr std::int64_t kMinChunkElems = 16384;
inline std::int64_t row_grain(std::int64_t cols) {
  return std::max<std::int64_t>(1, kMinChunkElems / std::max<std::int64_t>(1, cols));
}

}  // namespace trident::cpu
