// Reductions in two fixed-order passes (deterministic, no atomics):
// - sum / sum of squares: each block reduces a grid-stride share of x to one double partial, then
//   one block adds the partials.
// - bias_backward's column sums: blocks of 32 columns × 8 row lanes walk a stripe of rows each
//   (coalesced: a warp reads 32 consecutive columns of one row), the 8 lanes are combined in
//   shared memory into one f32 partial per (stripe, column), and a second kernel adds a column's
//   partials in double and accumulates into dbias.
#include "core/cuda/reduce_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident {

namespace {

using namespace cuda_kernels;

// ---- sum / sum of squares ------------------------------------------------------------------------

constexpr int kSumThreads = 256;
constexpr int kSumMaxBlocks = 1024;  // partials; the final pass adds them with one block
constexpr int kSumFinalThreads = 1024;

// Elements of x per 16-byte load: 4 f32 or 8 bf16.
template <typename T>
constexpr int kPackElems = static_cast<int>(16 / sizeof(T));

template <bool kSquare, typename T>
__device__ __forceinline__ float term(T x) {
  const float v = to_f32(x);
  return kSquare ? v * v : v;
}

// partials[blockIdx.x] = this block's share of Σ term(x[i]). The packed path needs x 16-byte
// aligned (`packed`); the rest of x (or all of it when not packed) goes element by element.
template <bool kSquare, typename T>
__global__ void __launch_bounds__(kSumThreads)
    sum_partials_kernel(const T* x, std::int64_t n, bool packed, double* partials) {
  constexpr int N = kPackElems<T>;
  const std::int64_t stride = grid_threads();
  const std::int64_t first = grid_thread_index();
  double acc = 0.0;
  std::int64_t done = 0;
  if (packed) {
    const std::int64_t packs = n / N;
    for (std::int64_t p = first; p < packs; p += stride) {
      const Pack<T, N> pack = load_pack<N>(x + p * N);
      float s = 0.0f;  // at most 8 terms in f32, then into the double accumulator
#pragma unroll
      for (int k = 0; k < N; ++k) s += term<kSquare>(pack.v[k]);
      acc += static_cast<double>(s);
    }
    done = packs * N;
  }
  for (std::int64_t i = done + first; i < n; i += stride) acc += static_cast<double>(term<kSquare>(x[i]));
  const double total = block_reduce(acc, SumOp<double>());
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kSumFinalThreads)
    sum_final_kernel(const double* partials, int count, double* result) {
  double acc = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) acc += partials[i];
  const double total = block_reduce(acc, SumOp<double>());
  if (threadIdx.x == 0) *result = total;
}

template <typename T>
void sum_impl(const T* x, std::int64_t n, bool square, double* workspace, cudaStream_t stream) {
  constexpr int N = kPackElems<T>;
  const bool packed = pack_aligned<N>(x) && n >= N;
  const int blocks = grid_stride_blocks(packed ? n / N : n, kSumThreads, kSumMaxBlocks);
  if (square) {
    sum_partials_kernel<true, T><<<blocks, kSumThreads, 0, stream>>>(x, n, packed, workspace);
  } else {
    sum_partials_kernel<false, T><<<blocks, kSumThreads, 0, stream>>>(x, n, packed, workspace);
  }
  TRIDENT_CUDA_LAUNCH_CHECK();
  sum_final_kernel<<<1, kSumFinalThreads, 0, stream>>>(workspace, blocks, sum_result_slot(workspace));
  TRIDENT_CUDA_LAUNCH_CHECK();
}

// ---- bias_backward: column sums ------------------------------------------------------------------

constexpr int kColTile = 32;         // columns per block: one warp's coalesced row segment
constexpr int kRowLanes = 8;         // warps per block, each on its own rows
constexpr int kTargetBlocks = 1024;  // enough blocks to fill any GPU several times over
constexpr int kMinRowsPerLane = 8;   // below this a stripe is not worth a partial
constexpr int kFinishThreads = 256;

// partials[blockIdx.y, c] = Σ dout[r, c] over the rows r of stripe blockIdx.y: rows
// blockIdx.y·8 + threadIdx.y, then every gridDim.y·8 rows. Block (32, 8), grid (col tiles, stripes).
template <typename T>
__global__ void __launch_bounds__(kColTile* kRowLanes)
    column_partials_kernel(const T* dout, std::int64_t rows, std::int64_t cols, float* partials) {
  __shared__ float lanes[kRowLanes][kColTile];
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  float acc = 0.0f;
  if (c < cols) {
    const std::int64_t step = static_cast<std::int64_t>(gridDim.y) * kRowLanes;
    for (std::int64_t r = static_cast<std::int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < rows; r += step)
      acc += to_f32(dout[r * cols + c]);
  }
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kRowLanes; ++k) s += lanes[k][threadIdx.x];
    partials[static_cast<std::int64_t>(blockIdx.y) * cols + c] = s;
  }
}

// dbias[c] += Σ_k partials[k, c], the partials added in double in stripe order.
__global__ void __launch_bounds__(kFinishThreads)
    column_finish_kernel(const float* partials, int splits, std::int64_t cols, float* dbias) {
  const std::int64_t stride = grid_threads();
  for (std::int64_t c = grid_thread_index(); c < cols; c += stride) {
    double s = 0.0;
    for (int k = 0; k < splits; ++k) s += partials[static_cast<std::int64_t>(k) * cols + c];
    dbias[c] += static_cast<float>(s);
  }
}

template <typename T>
void bias_backward_impl(const T* dout, std::int64_t rows, std::int64_t cols, float* partials, float* dbias,
                        cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const std::int64_t tiles = ceil_div(cols, kColTile);
  const std::int64_t splits = bias_backward_splits(rows, cols);
  const dim3 grid(static_cast<unsigned int>(tiles), static_cast<unsigned int>(splits));
  const dim3 block(kColTile, kRowLanes);
  column_partials_kernel<T><<<grid, block, 0, stream>>>(dout, rows, cols, partials);
  TRIDENT_CUDA_LAUNCH_CHECK();
  column_finish_kernel<<<grid_stride_blocks(cols, kFinishThreads), kFinishThreads, 0, stream>>>(
      partials, static_cast<int>(splits), cols, dbias);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

}  // namespace

std::int64_t sum_workspace_doubles() { return kSumMaxBlocks + 1; }
double* sum_result_slot(double* workspace) { return workspace + kSumMaxBlocks; }

void launch_sum(const float* x, std::int64_t n, bool square, double* workspace, cudaStream_t stream) {
  sum_impl(x, n, square, workspace, stream);
}
void launch_sum(const __nv_bfloat16* x, std::int64_t n, bool square, double* workspace, cudaStream_t stream) {
  sum_impl(x, n, square, workspace, stream);
}

std::int64_t bias_backward_splits(std::int64_t rows, std::int64_t cols) {
  if (rows <= 0 || cols <= 0) return 1;
  const std::int64_t tiles = ceil_div(cols, kColTile);
  std::int64_t splits = ceil_div(kTargetBlocks, tiles);  // ≤ kTargetBlocks, so within gridDim.y
  const std::int64_t most = ceil_div(rows, kRowLanes * kMinRowsPerLane);
  if (splits > most) splits = most;
  return splits < 1 ? 1 : splits;
}

void launch_bias_backward(const float* dout, std::int64_t rows, std::int64_t cols, float* partials, float* dbias,
                          cudaStream_t stream) {
  bias_backward_impl(dout, rows, cols, partials, dbias, stream);
}
void launch_bias_backward(const __nv_bfloat16* dout, std::int64_t rows, std::int64_t cols, float* partials,
                          float* dbias, cudaStream_t stream) {
  bias_backward_impl(dout, rows, cols, partials, dbias, stream);
}

}  // namespace trident
