// CPU threads per rank: how many threads the op table's one worker pool (core/cpu/parallel_for.h)
// spreads every kernel over, GEMMs included. One thread per rank when MPI ranks outnumber cores
// (oversubscribed runs and tests); more when a rank owns several cores.
//
// OpenBLAS itself always runs single-threaded: a GEMM is split over the pool in row or column blocks,
// each a single-threaded cblas_sgemm (core/cpu/cpu_gemm.cpp). Two pools on the same cores fought:
// after every threaded sgemm OpenBLAS's workers spin (sched_yield) for ~2^28 cycles, so the next
// pointwise or attention kernel got little of the second core; measured on mini at 2 threads, the
// non-GEMM ops took as long as at 1 thread.
#pragma once

namespace trident {

// Sets the pool's thread count (>= 1) and keeps OpenBLAS at one thread.
void set_blas_threads(int threads);
// The pool's thread count. Until set_blas_threads is called: what OpenBLAS was started with
// (OPENBLAS_NUM_THREADS, else the core count), read once.
int blas_threads();

}  // namespace trident
