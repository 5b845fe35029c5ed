// OpenBLAS thread count. One thread per rank when MPI ranks outnumber cores (oversubscribed runs
// and tests); more when a rank owns several cores.
#pragma once

namespace trident {

void set_blas_threads(int threads);
int blas_threads();

}  // namespace trident
