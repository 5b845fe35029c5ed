// LayerNorm over the last dim of x[n, c] (see core/cuda/layernorm_kernels.h for the formulas).
//
// Forward and backward-input give each row to one warp (8 rows per 256-thread block): the lanes
// stride over the row, so every load is coalesced, and the row statistics are warp-shuffle sums in
// f32 with no shared memory or block barrier. Rows are read once per pass (two for forward's
// mean and variance, one for the output; they come back from L1/L2). When c is a multiple of
// kVec and every pointer is 16-byte aligned, each lane moves kVec consecutive elements per access
// (128-bit loads for bf16, two for f32); otherwise one element (C = 7, a view starting mid-row).
//
// Backward-weight is a column reduction over rows: a 32 × 8 block owns 32 columns of one chunk of
// rows; its 8 row-lanes accumulate in registers, combine through shared memory, and write one
// partial per column and chunk. A second kernel sums the chunks in a fixed order, so the result
// is deterministic for a given GPU, and adds it into dweight and dbias (no atomics).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"
#include "core/cuda/layernorm_kernels.h"

namespace trident::cuda_kernels {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block in the row-wise kernels
constexpr int kVec = 8;           // elements per vectorised access

// One warp per row; N = 1 or kVec (then c % N == 0 and all pointers 16-byte aligned).
template <int N, typename X, typename W>
__global__ void __launch_bounds__(kRowsPerBlock * kWarpSize)
    layernorm_forward_kernel(const X* __restrict__ x, const W* __restrict__ weight, const W* __restrict__ bias,
                             float eps, std::int64_t n, int c, X* __restrict__ out, float* __restrict__ mean,
                             float* __restrict__ rstd) {
  const int lane = lane_index();
  const std::int64_t row = warp_row<kRowsPerBlock>();
  if (row >= n) return;  // the whole warp leaves together; no block barrier follows
  const X* xr = x + row * c;
  X* orow = out + row * c;

  float sum = 0.0f;
  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float v[N];
    load_f32<N>(xr + j, v);
#pragma unroll
    for (int k = 0; k < N; ++k) sum += v[k];
  }
  const float mu = warp_sum(sum) / static_cast<float>(c);

  // Second pass over the centred values so a large mean does not cancel the variance away.
  float sq = 0.0f;
  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float v[N];
    load_f32<N>(xr + j, v);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float d = v[k] - mu;
      sq += d * d;
    }
  }
  const float var = warp_sum(sq) / static_cast<float>(c);
  const float rs = 1.0f / sqrtf(var + eps);  // IEEE sqrt and division (no fast math), as the CPU table
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }

  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float v[N], w[N], b[N], o[N];
    load_f32<N>(xr + j, v);
    load_f32<N>(weight + j, w);
    load_f32<N>(bias + j, b);
#pragma unroll
    for (int k = 0; k < N; ++k) o[k] = (v[k] - mu) * rs * w[k] + b[k];
    store_f32<N>(orow + j, o);
  }
}

template <int N, typename X, typename W>
__global__ void __launch_bounds__(kRowsPerBlock * kWarpSize)
    layernorm_backward_input_kernel(const X* __restrict__ dout, const X* __restrict__ x,
                                    const W* __restrict__ weight, const float* __restrict__ mean,
                                    const float* __restrict__ rstd, std::int64_t n, int c, X* __restrict__ dx) {
  const int lane = lane_index();
  const std::int64_t row = warp_row<kRowsPerBlock>();
  if (row >= n) return;
  const X* dr = dout + row * c;
  const X* xr = x + row * c;
  X* gr = dx + row * c;
  const float mu = mean[row], rs = rstd[row];

  // Pass 1: Σ dnorm and Σ dnorm · xhat.
  float s_dn = 0.0f, s_dnx = 0.0f;
  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float d[N], v[N], w[N];
    load_f32<N>(dr + j, d);
    load_f32<N>(xr + j, v);
    load_f32<N>(weight + j, w);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float dn = d[k] * w[k];
      s_dn += dn;
      s_dnx += dn * ((v[k] - mu) * rs);
    }
  }
  const float inv_c = 1.0f / static_cast<float>(c);
  const float mean_dn = warp_sum(s_dn) * inv_c;
  const float mean_dnx = warp_sum(s_dnx) * inv_c;

  // Pass 2: dx, recomputing dnorm and xhat (cheaper than holding a row in registers).
  for (int j = lane * N; j < c; j += kWarpSize * N) {
    float d[N], v[N], w[N], g[N];
    load_f32<N>(dr + j, d);
    load_f32<N>(xr + j, v);
    load_f32<N>(weight + j, w);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float dn = d[k] * w[k];
      const float xhat = (v[k] - mu) * rs;
      g[k] = rs * (dn - mean_dn - xhat * mean_dnx);
    }
    store_f32<N>(gr + j, g);
  }
}

// Column tile of the weight-gradient reduction: blockDim (kWarpSize, kGradRowLanes); blockIdx.x
// picks 32 columns, blockIdx.y a chunk of rows_per_chunk rows. partials is [chunks, 2, c]: dweight
// sums then dbias sums of each chunk.
constexpr int kGradRowLanes = 8;

template <typename X>
__global__ void __launch_bounds__(kWarpSize * kGradRowLanes)
    layernorm_weight_grad_partials_kernel(const X* __restrict__ dout, const X* __restrict__ x,
                                          const float* __restrict__ mean, const float* __restrict__ rstd,
                                          std::int64_t n, int c, std::int64_t rows_per_chunk,
                                          float* __restrict__ partials) {
  __shared__ float sw[kGradRowLanes][kWarpSize];
  __shared__ float sb[kGradRowLanes][kWarpSize];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = blockIdx.x * kWarpSize + tx;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * rows_per_chunk;
  const std::int64_t end = begin + rows_per_chunk < n ? begin + rows_per_chunk : n;
  float dw = 0.0f, db = 0.0f;
  if (col < c) {
    for (std::int64_t r = begin + ty; r < end; r += kGradRowLanes) {
      // A warp (fixed ty) reads 32 consecutive columns of one row: coalesced; mean/rstd broadcast.
      const float d = to_f32(dout[r * c + col]);
      const float xhat = (to_f32(x[r * c + col]) - mean[r]) * rstd[r];
      dw += d * xhat;
      db += d;
    }
  }
  sw[ty][tx] = dw;
  sb[ty][tx] = db;
  __syncthreads();
  if (ty == 0 && col < c) {
    float tw = 0.0f, tb = 0.0f;
#pragma unroll
    for (int k = 0; k < kGradRowLanes; ++k) {
      tw += sw[k][tx];
      tb += sb[k][tx];
    }
    float* chunk = partials + static_cast<std::int64_t>(blockIdx.y) * 2 * c;
    chunk[col] = tw;
    chunk[c + col] = tb;
  }
}

// One thread per column: the chunks' partials in chunk order, added into the gradients.
__global__ void layernorm_weight_grad_finish_kernel(const float* __restrict__ partials, int chunks, int c,
                                                    float* __restrict__ dweight, float* __restrict__ dbias) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= c) return;
  float tw = 0.0f, tb = 0.0f;
  for (int k = 0; k < chunks; ++k) {
    const float* chunk = partials + static_cast<std::int64_t>(k) * 2 * c;
    tw += chunk[col];
    tb += chunk[c + col];
  }
  dweight[col] += tw;
  dbias[col] += tb;
}

unsigned row_blocks(std::int64_t n) { return static_cast<unsigned>(ceil_div(n, kRowsPerBlock)); }

}  // namespace

template <typename X, typename W>
void launch_layernorm_forward(const X* x, const W* weight, const W* bias, float eps, std::int64_t n, int c, X* out,
                              float* mean, float* rstd, cudaStream_t stream) {
  if (n == 0 || c == 0) return;
  const dim3 grid(row_blocks(n)), block(kRowsPerBlock * kWarpSize);
  const bool vec = c % kVec == 0 && pack_aligned<kVec>(x) && pack_aligned<kVec>(weight) &&
                   pack_aligned<kVec>(bias) && pack_aligned<kVec>(out);
  dispatch_pack_width<kVec>(vec, [&](auto width) {
    layernorm_forward_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(x, weight, bias, eps, n, c, out,
                                                                                 mean, rstd);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

template <typename X, typename W>
void launch_layernorm_backward_input(const X* dout, const X* x, const W* weight, const float* mean,
                                     const float* rstd, std::int64_t n, int c, X* dx, cudaStream_t stream) {
  if (n == 0 || c == 0) return;
  const dim3 grid(row_blocks(n)), block(kRowsPerBlock * kWarpSize);
  const bool vec = c % kVec == 0 && pack_aligned<kVec>(dout) && pack_aligned<kVec>(x) &&
                   pack_aligned<kVec>(weight) && pack_aligned<kVec>(dx);
  dispatch_pack_width<kVec>(vec, [&](auto width) {
    layernorm_backward_input_kernel<decltype(width)::value><<<grid, block, 0, stream>>>(dout, x, weight, mean, rstd,
                                                                                        n, c, dx);
  });
  TRIDENT_CUDA_LAUNCH_CHECK();
}

int layernorm_weight_grad_chunks(std::int64_t n, int c, int sm_count) {
  if (n <= 0 || c <= 0) return 1;
  // About 8 resident 256-thread blocks per SM fill the GPU; no chunk gets fewer rows than there
  // are row-lanes, and gridDim.y stays within its 65535 limit.
  const std::int64_t tiles = ceil_div(c, kWarpSize);
  const std::int64_t target_blocks = 8 * static_cast<std::int64_t>(std::max(sm_count, 1));
  std::int64_t chunks = ceil_div(target_blocks, tiles);
  chunks = std::min(chunks, ceil_div(n, kGradRowLanes));
  chunks = std::min<std::int64_t>(chunks, 65535);
  return static_cast<int>(std::max<std::int64_t>(chunks, 1));
}

template <typename X>
void launch_layernorm_backward_weight(const X* dout, const X* x, const float* mean, const float* rstd,
                                      std::int64_t n, int c, int chunks, float* partials, float* dweight,
                                      float* dbias, cudaStream_t stream) {
  if (n == 0 || c == 0) return;
  const std::int64_t rows_per_chunk = ceil_div(n, chunks);
  const dim3 grid(static_cast<unsigned>(ceil_div(c, kWarpSize)), static_cast<unsigned>(chunks));
  const dim3 block(kWarpSize, kGradRowLanes);
  layernorm_weight_grad_partials_kernel<<<grid, block, 0, stream>>>(dout, x, mean, rstd, n, c, rows_per_chunk,
                                                                    partials);
  TRIDENT_CUDA_LAUNCH_CHECK();
  constexpr int kFinishThreads = 256;
  const auto finish_blocks = static_cast<unsigned>(ceil_div(c, kFinishThreads));
  layernorm_weight_grad_finish_kernel<<<finish_blocks, kFinishThreads, 0, stream>>>(partials, chunks, c, dweight,
                                                                                    dbias);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

#define TRIDENT_LN_INSTANTIATE(X, W)                                                                        \
  template void launch_layernorm_forward<X, W>(const X*, const W*, const W*, float, std::int64_t, int, X*,  \
                                               float*, float*, cudaStream_t);                               \
  template void launch_layernorm_backward_input<X, W>(const X*, const X*, const W*, const float*,           \
                                                      const float*, std::int64_t, int, X*, cudaStream_t);
TRIDENT_LN_INSTANTIATE(float, float)
TRIDENT_LN_INSTANTIATE(float, __nv_bfloat16)
TRIDENT_LN_INSTANTIATE(__nv_bfloat16, float)
TRIDENT_LN_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
#undef TRIDENT_LN_INSTANTIATE

template void launch_layernorm_backward_weight<float>(const float*, const float*, const float*, const float*,
                                                      std::int64_t, int, int, float*, float*, float*,
                                                      cudaStream_t);
template void launch_layernorm_backward_weight<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                              const float*, const float*, std::int64_t, int, int,
                                                              float*, float*, float*, cudaStream_t);

}  // namespace trident::cuda_kernels
