// Raw-pointer launchers of the elementwise kernels (core/cuda/pointwise_kernels.cu): fill,
// dtype conversion, add/axpy/scale, bias add and GELU. C++17 so nvcc and g++ both include it.
//
// Every launcher enqueues on `stream` and returns at once; n counts elements. Arithmetic is f32;
// bf16 results are rounded to nearest even exactly like trident::to_bf16 (core/dtype.h), so a GPU
// bf16 result is bit-identical to the CPU's rounding of the same f32 value. Contiguous 16-byte
// packs are used when every pointer is aligned for them (views made by slice0 may not be), with
// an elementwise path for the rest.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace trident {

// x[0, n) = bits (the value already in the element's dtype: f32 or i32 bits, bf16 bits).
void launch_fill_32bit(std::uint32_t* x, std::uint32_t bits, std::int64_t n, cudaStream_t stream);
void launch_fill_16bit(std::uint16_t* x, std::uint16_t bits, std::int64_t n, cudaStream_t stream);

// dst = src with a change of dtype (f32 -> bf16 rounds to nearest even; bf16 -> f32 is exact).
void launch_convert(const float* src, __nv_bfloat16* dst, std::int64_t n, cudaStream_t stream);
void launch_convert(const __nv_bfloat16* src, float* dst, std::int64_t n, cudaStream_t stream);

// out = a + b; out may be a or b.
void launch_add(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
void launch_add(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* out, std::int64_t n,
                cudaStream_t stream);

// y += alpha * x, any mix of f32 and bf16.
void launch_axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream);
void launch_axpy(float alpha, const __nv_bfloat16* x, float* y, std::int64_t n, cudaStream_t stream);
void launch_axpy(float alpha, const float* x, __nv_bfloat16* y, std::int64_t n, cudaStream_t stream);
void launch_axpy(float alpha, const __nv_bfloat16* x, __nv_bfloat16* y, std::int64_t n, cudaStream_t stream);

// x *= alpha
void launch_scale(float* x, float alpha, std::int64_t n, cudaStream_t stream);
void launch_scale(__nv_bfloat16* x, float alpha, std::int64_t n, cudaStream_t stream);

// x[rows, cols] += bias[cols], x and bias each f32 or bf16.
void launch_bias_add(float* x, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream);
void launch_bias_add(float* x, const __nv_bfloat16* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream);
void launch_bias_add(__nv_bfloat16* x, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream);
void launch_bias_add(__nv_bfloat16* x, const __nv_bfloat16* bias, std::int64_t rows, std::int64_t cols,
                     cudaStream_t stream);

// GELU, tanh form (as the CPU table): out = gelu(x); dx = dout * gelu'(x). One dtype per call.
void launch_gelu_forward(const float* x, float* out, std::int64_t n, cudaStream_t stream);
void launch_gelu_forward(const __nv_bfloat16* x, __nv_bfloat16* out, std::int64_t n, cudaStream_t stream);
void launch_gelu_backward(const float* dout, const float* x, float* dx, std::int64_t n, cudaStream_t stream);
void launch_gelu_backward(const __nv_bfloat16* dout, const __nv_bfloat16* x, __nv_bfloat16* dx, std::int64_t n,
                          cudaStream_t stream);

}  // namespace trident
