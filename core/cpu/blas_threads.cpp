#include "core/cpu/blas_threads.h"

#include <cblas.h>  // OpenBLAS's cblas.h declares openblas_set_num_threads / openblas_get_num_threads

#include "core/error.h"

namespace trident {

void set_blas_threads(int threads) {
  TRIDENT_CHECK(threads >= 1, "set_blas_threads: thread count must be >= 1, got ", threads);
  openblas_set_num_threads(threads);
}

int blas_threads() { return openblas_get_num_threads(); }

}  // namespace trident
