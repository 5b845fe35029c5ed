// Raw-pointer launchers of the reduction kernels (core/cuda/reduce_kernels.cu): whole-tensor sum
// and sum of squares (for losses and gradient norms), and the column sums of bias_backward.
// Both reduce in a fixed order (block partials, then one pass over the partials), so results do
// not change from run to run; no atomics. C++17 so nvcc and g++ both include it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident {

// Device scratch (in doubles) launch_sum needs, including its one-double result slot.
std::int64_t sum_workspace_doubles();

// Σ x[i] (or Σ x[i]² when `square`) into the device double at sum_result_slot(workspace). Each
// 16-byte pack (4 f32 or 8 bf16) is summed in f32 and accumulated in double per thread; blocks
// and the final pass add in double. `workspace` holds sum_workspace_doubles() doubles.
void launch_sum(const float* x, std::int64_t n, bool square, double* workspace, cudaStream_t stream);
void launch_sum(const __nv_bfloat16* x, std::int64_t n, bool square, double* workspace, cudaStream_t stream);
// Where launch_sum leaves the result inside `workspace`.
double* sum_result_slot(double* workspace);

// Scratch rows (each `cols` f32) launch_bias_backward needs for a [rows, cols] input.
std::int64_t bias_backward_splits(std::int64_t rows, std::int64_t cols);

// dbias[cols] += Σ_r dout[r, cols] (f32 accumulation per thread over a stripe of rows, partials
// summed in double). `partials` holds bias_backward_splits(rows, cols) * cols floats.
void launch_bias_backward(const float* dout, std::int64_t rows, std::int64_t cols, float* partials, float* dbias,
                          cudaStream_t stream);
void launch_bias_backward(const __nv_bfloat16* dout, std::int64_t rows, std::int64_t cols, float* partials,
                          float* dbias, cudaStream_t stream);

}  // namespace trident
