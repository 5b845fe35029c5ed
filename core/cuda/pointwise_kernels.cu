// Elementwise kernels: one grid-stride kernel template runs an op over [0, n) in packs of N
// consecutive elements (16-byte loads and stores for the widest dtype of the op) and finishes the
// last n % N elements one at a time. Each op is a small struct whose apply<N>(i) handles elements
// [i, i + N); all arithmetic is f32. Launchers are declared in core/cuda/pointwise_kernels.h.
#include "core/cuda/pointwise_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/cuda/cuda_check.h"
#include "core/cuda/kernel_utils.cuh"

namespace trident {

namespace {

using namespace cuda_kernels;

constexpr int kThreads = 256;

// Elements per pack for an op whose widest dtype has `widest` bytes: 16 bytes per access.
constexpr int pack_elems(std::size_t widest) { return static_cast<int>(16 / widest); }

// ---- the one elementwise kernel ------------------------------------------------------------------

// Runs op.apply<N>(i) for the full packs [i, i + N) of [0, n), then op.apply<1> for the n % N
// elements after them. Consecutive threads take consecutive packs: coalesced.
template <int N, typename Op>
__global__ void __launch_bounds__(kThreads) elementwise_kernel(Op op, std::int64_t n) {
  const std::int64_t stride = grid_threads();
  const std::int64_t first = grid_thread_index();
  const std::int64_t packs = n / N;
  for (std::int64_t p = first; p < packs; p += stride) op.template apply<N>(p * N);
  if constexpr (N > 1) {
    for (std::int64_t i = packs * N + first; i < n; i += stride) op.template apply<1>(i);
  }
}

// Packs of N when `vectorizable` (every pointer aligned for them), else one element at a time.
template <int N, typename Op>
void launch_elementwise(const Op& op, std::int64_t n, bool vectorizable, cudaStream_t stream) {
  if (n <= 0) return;
  if (vectorizable && n >= N) {
    elementwise_kernel<N, Op><<<grid_stride_blocks(n / N, kThreads), kThreads, 0, stream>>>(op, n);
  } else {
    elementwise_kernel<1, Op><<<grid_stride_blocks(n, kThreads), kThreads, 0, stream>>>(op, n);
  }
  TRIDENT_CUDA_LAUNCH_CHECK();
}

// ---- ops -----------------------------------------------------------------------------------------

template <typename T>
struct FillOp {
  T* x;
  T bits;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    Pack<T, N> pack;
#pragma unroll
    for (int k = 0; k < N; ++k) pack.v[k] = bits;
    store_pack<N>(x + i, pack);
  }
};

template <typename S, typename D>
struct ConvertOp {
  const S* src;
  D* dst;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float v[N];
    load_f32<N>(src + i, v);
    store_f32<N>(dst + i, v);
  }
};

template <typename T>
struct AddOp {
  const T* a;
  const T* b;
  T* out;  // may equal a or b: each pack is read before it is written, by the same thread
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float x[N], y[N];
    load_f32<N>(a + i, x);
    load_f32<N>(b + i, y);
#pragma unroll
    for (int k = 0; k < N; ++k) x[k] += y[k];
    store_f32<N>(out + i, x);
  }
};

template <typename X, typename Y>
struct AxpyOp {
  float alpha;
  const X* x;
  Y* y;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float xv[N], yv[N];
    load_f32<N>(x + i, xv);
    load_f32<N>(y + i, yv);
#pragma unroll
    for (int k = 0; k < N; ++k) yv[k] += alpha * xv[k];
    store_f32<N>(y + i, yv);
  }
};

template <typename T>
struct ScaleOp {
  T* x;
  float alpha;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float v[N];
    load_f32<N>(x + i, v);
#pragma unroll
    for (int k = 0; k < N; ++k) v[k] *= alpha;
    store_f32<N>(x + i, v);
  }
};

// x viewed as [rows, cols]; the vector path needs cols % N == 0 so a pack never crosses a row end
// and its bias pack starts at a multiple of N.
template <typename X, typename B>
struct BiasAddOp {
  X* x;
  const B* bias;
  std::int64_t cols;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float xv[N], bv[N];
    load_f32<N>(x + i, xv);
    load_f32<N>(bias + i % cols, bv);
#pragma unroll
    for (int k = 0; k < N; ++k) xv[k] += bv[k];
    store_f32<N>(x + i, xv);
  }
};

constexpr float kGeluS = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluC = 0.044715f;

// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as CpuOps::gelu_forward (tanhf is exact to 2 ulp
// here: the CUDA targets are built without fast math).
__device__ __forceinline__ float gelu(float v) {
  const float t = tanhf(kGeluS * (v + kGeluC * v * v * v));
  return 0.5f * v * (1.0f + t);
}

// gelu'(x) = 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), as CpuOps::gelu_backward.
__device__ __forceinline__ float gelu_grad(float v) {
  const float t = tanhf(kGeluS * (v + kGeluC * v * v * v));
  const float dt = kGeluS * (1.0f + 3.0f * kGeluC * v * v);
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dt;
}

template <typename T>
struct GeluForwardOp {
  const T* x;
  T* out;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float v[N];
    load_f32<N>(x + i, v);
#pragma unroll
    for (int k = 0; k < N; ++k) v[k] = gelu(v[k]);
    store_f32<N>(out + i, v);
  }
};

template <typename T>
struct GeluBackwardOp {
  const T* dout;
  const T* x;
  T* dx;
  template <int N>
  __device__ void apply(std::int64_t i) const {
    float d[N], v[N];
    load_f32<N>(dout + i, d);
    load_f32<N>(x + i, v);
#pragma unroll
    for (int k = 0; k < N; ++k) d[k] *= gelu_grad(v[k]);
    store_f32<N>(dx + i, d);
  }
};

// ---- typed launchers -----------------------------------------------------------------------------

template <typename T>
void fill_impl(T* x, T bits, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(T));
  launch_elementwise<N>(FillOp<T>{x, bits}, n, pack_aligned<N>(x), stream);
}

template <typename S, typename D>
void convert_impl(const S* src, D* dst, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(S) > sizeof(D) ? sizeof(S) : sizeof(D));
  launch_elementwise<N>(ConvertOp<S, D>{src, dst}, n, pack_aligned<N>(src) && pack_aligned<N>(dst), stream);
}

template <typename T>
void add_impl(const T* a, const T* b, T* out, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(T));
  launch_elementwise<N>(AddOp<T>{a, b, out}, n, pack_aligned<N>(a) && pack_aligned<N>(b) && pack_aligned<N>(out),
                        stream);
}

template <typename X, typename Y>
void axpy_impl(float alpha, const X* x, Y* y, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(X) > sizeof(Y) ? sizeof(X) : sizeof(Y));
  launch_elementwise<N>(AxpyOp<X, Y>{alpha, x, y}, n, pack_aligned<N>(x) && pack_aligned<N>(y), stream);
}

template <typename T>
void scale_impl(T* x, float alpha, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(T));
  launch_elementwise<N>(ScaleOp<T>{x, alpha}, n, pack_aligned<N>(x), stream);
}

template <typename X, typename B>
void bias_add_impl(X* x, const B* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  constexpr int N = pack_elems(sizeof(X) > sizeof(B) ? sizeof(X) : sizeof(B));
  const bool vectorizable = cols % N == 0 && pack_aligned<N>(x) && pack_aligned<N>(bias);
  launch_elementwise<N>(BiasAddOp<X, B>{x, bias, cols}, rows * cols, vectorizable, stream);
}

template <typename T>
void gelu_forward_impl(const T* x, T* out, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(T));
  launch_elementwise<N>(GeluForwardOp<T>{x, out}, n, pack_aligned<N>(x) && pack_aligned<N>(out), stream);
}

template <typename T>
void gelu_backward_impl(const T* dout, const T* x, T* dx, std::int64_t n, cudaStream_t stream) {
  constexpr int N = pack_elems(sizeof(T));
  launch_elementwise<N>(GeluBackwardOp<T>{dout, x, dx}, n,
                        pack_aligned<N>(dout) && pack_aligned<N>(x) && pack_aligned<N>(dx), stream);
}

}  // namespace

void launch_fill_32bit(std::uint32_t* x, std::uint32_t bits, std::int64_t n, cudaStream_t stream) {
  fill_impl(x, bits, n, stream);
}
void launch_fill_16bit(std::uint16_t* x, std::uint16_t bits, std::int64_t n, cudaStream_t stream) {
  fill_impl(x, bits, n, stream);
}

void launch_convert(const float* src, __nv_bfloat16* dst, std::int64_t n, cudaStream_t stream) {
  convert_impl(src, dst, n, stream);
}
void launch_convert(const __nv_bfloat16* src, float* dst, std::int64_t n, cudaStream_t stream) {
  convert_impl(src, dst, n, stream);
}

void launch_add(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream) {
  add_impl(a, b, out, n, stream);
}
void launch_add(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* out, std::int64_t n,
                cudaStream_t stream) {
  add_impl(a, b, out, n, stream);
}

void launch_axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  axpy_impl(alpha, x, y, n, stream);
}
void launch_axpy(float alpha, const __nv_bfloat16* x, float* y, std::int64_t n, cudaStream_t stream) {
  axpy_impl(alpha, x, y, n, stream);
}
void launch_axpy(float alpha, const float* x, __nv_bfloat16* y, std::int64_t n, cudaStream_t stream) {
  axpy_impl(alpha, x, y, n, stream);
}
void launch_axpy(float alpha, const __nv_bfloat16* x, __nv_bfloat16* y, std::int64_t n, cudaStream_t stream) {
  axpy_impl(alpha, x, y, n, stream);
}

void launch_scale(float* x, float alpha, std::int64_t n, cudaStream_t stream) { scale_impl(x, alpha, n, stream); }
void launch_scale(__nv_bfloat16* x, float alpha, std::int64_t n, cudaStream_t stream) {
  scale_impl(x, alpha, n, stream);
}

void launch_bias_add(float* x, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  bias_add_impl(x, bias, rows, cols, stream);
}
void launch_bias_add(float* x, const __nv_bfloat16* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  bias_add_impl(x, bias, rows, cols, stream);
}
void launch_bias_add(__nv_bfloat16* x, const float* bias, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  bias_add_impl(x, bias, rows, cols, stream);
}
void launch_bias_add(__nv_bfloat16* x, const __nv_bfloat16* bias, std::int64_t rows, std::int64_t cols,
                     cudaStream_t stream) {
  bias_add_impl(x, bias, rows, cols, stream);
}

void launch_gelu_forward(const float* x, float* out, std::int64_t n, cudaStream_t stream) {
  gelu_forward_impl(x, out, n, stream);
}
void launch_gelu_forward(const __nv_bfloat16* x, __nv_bfloat16* out, std::int64_t n, cudaStream_t stream) {
  gelu_forward_impl(x, out, n, stream);
}
void launch_gelu_backward(const float* dout, const float* x, float* dx, std::int64_t n, cudaStream_t stream) {
  gelu_backward_impl(dout, x, dx, n, stream);
}
void launch_gelu_backward(const __nv_bfloat16* dout, const __nv_bfloat16* x, __nv_bfloat16* dx, std::int64_t n,
                          cudaStream_t stream) {
  gelu_backward_impl(dout, x, dx, n, stream);
}

}  // namespace trident
