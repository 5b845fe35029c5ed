// Softmax kernels of the f32 attention path. Row kernels give each row to one warp (lanes stride
// over the columns, so loads are coalesced; max and sum are warp-shuffle reductions); elementwise
// kernels use one thread per element. Both loop grid-stride, so any size fits one launch.
#include "core/cuda/attention_kernels.h"

#include <cmath>

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident::cuda_kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / kWarpSize;

// Blocks for the row kernels (one warp per row) and the elementwise kernels (one thread per element).
int row_blocks(std::int64_t rows) { return grid_stride_blocks(rows, kWarpsPerBlock); }
int element_blocks(std::int64_t n) { return grid_stride_blocks(n, kThreads); }

// First row of this warp and the distance to its next row; the row loop is warp-uniform, so every
// lane reaches every shuffle.
__device__ std::int64_t first_row() { return warp_row<kWarpsPerBlock>(); }
__device__ std::int64_t row_step() { return static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock; }

__global__ void causal_softmax_forward_kernel(float* p, float* lse, std::int64_t rows, std::int64_t s) {
  const int lane = lane_index();
  for (std::int64_t r = first_row(); r < rows; r += row_step()) {
    float* row = p + r * s;
    const std::int64_t len = r % s + 1;  // keys 0..i of query i
    float m = -INFINITY;
    for (std::int64_t j = lane; j < len; j += kWarpSize) m = fmaxf(m, row[j]);
    m = warp_reduce(m, MaxOp());
    float sum = 0.0f;
    for (std::int64_t j = lane; j < len; j += kWarpSize) sum += expf(row[j] - m);
    sum = warp_sum(sum);
    const float inv = 1.0f / sum;
    // Each element is read and rewritten by the same lane.
    for (std::int64_t j = lane; j < s; j += kWarpSize) row[j] = j < len ? expf(row[j] - m) * inv : 0.0f;
    if (lane == 0) lse[r] = m + logf(sum);
  }
}

__global__ void causal_probs_from_lse_kernel(float* p, const float* lse, std::int64_t rows, std::int64_t s) {
  const std::int64_t total = rows * s;
  for (std::int64_t idx = grid_thread_index(); idx < total; idx += grid_threads()) {
    const std::int64_t r = idx / s;
    const std::int64_t j = idx % s;
    p[idx] = j <= r % s ? expf(p[idx] - lse[r]) : 0.0f;
  }
}

// One warp per (b, i, h) segment of hd values, taken in memory order so the warp reads one
// contiguous segment of dout and of out.
__global__ void attention_row_dots_kernel(const float* dout, const float* out, float* d, std::int64_t batch,
                                          std::int64_t seq, std::int64_t heads, std::int64_t head_dim) {
  const int lane = lane_index();
  const std::int64_t segments = batch * seq * heads;
  for (std::int64_t t = first_row(); t < segments; t += row_step()) {
    const float* g = dout + t * head_dim;
    const float* o = out + t * head_dim;
    float acc = 0.0f;
    for (std::int64_t e = lane; e < head_dim; e += kWarpSize) acc += g[e] * o[e];
    acc = warp_sum(acc);
    if (lane == 0) {
      const std::int64_t h = t % heads;
      const std::int64_t i = (t / heads) % seq;
      const std::int64_t b = t / (heads * seq);
      d[(b * heads + h) * seq + i] = acc;
    }
  }
}

__global__ void softmax_backward_kernel(float* ds, const float* p, const float* d, std::int64_t rows, std::int64_t s) {
  const std::int64_t total = rows * s;
  for (std::int64_t idx = grid_thread_index(); idx < total; idx += grid_threads())
    ds[idx] = p[idx] * (ds[idx] - d[idx / s]);
}

}  // namespace

void launch_causal_softmax_forward(float* p, float* lse, std::int64_t rows, std::int64_t s, cudaStream_t stream) {
  if (rows == 0 || s == 0) return;
  causal_softmax_forward_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(p, lse, rows, s);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

void launch_causal_probs_from_lse(float* p, const float* lse, std::int64_t rows, std::int64_t s, cudaStream_t stream) {
  if (rows == 0 || s == 0) return;
  causal_probs_from_lse_kernel<<<element_blocks(rows * s), kThreads, 0, stream>>>(p, lse, rows, s);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

void launch_attention_row_dots(const float* dout, const float* out, float* d, std::int64_t batch, std::int64_t seq,
                               std::int64_t heads, std::int64_t head_dim, cudaStream_t stream) {
  const std::int64_t segments = batch * seq * heads;
  if (segments == 0) return;
  attention_row_dots_kernel<<<row_blocks(segments), kThreads, 0, stream>>>(dout, out, d, batch, seq, heads,
                                                                             head_dim);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

void launch_softmax_backward(float* ds, const float* p, const float* d, std::int64_t rows, std::int64_t s,
                             cudaStream_t stream) {
  if (rows == 0 || s == 0) return;
  softmax_backward_kernel<<<element_blocks(rows * s), kThreads, 0, stream>>>(ds, p, d, rows, s);
  TRIDENT_CUDA_LAUNCH_CHECK();
}

}  // namespace trident::cuda_kernels
