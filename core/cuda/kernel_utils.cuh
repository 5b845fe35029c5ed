// Device-side building blocks shared by the CUDA kernels (core/cuda/*.cu only: CUDA C++17, never
// included by the g++ C++20 sources): f32 <-> bf16 conversions that match core/dtype.h bit for
// bit, packs of consecutive elements for vectorised (up to 16-byte) loads and stores, thread
// positions, warp and block reductions, and launch helpers (grid sizes, pack-width dispatch).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace trident::cuda_kernels {

constexpr int kWarpSize = 32;

// ---- element conversions -------------------------------------------------------------------------

__device__ __forceinline__ float to_f32(float v) { return v; }
// Widening by a shift (as trident::from_bf16): exact, NaN payloads included, on every arch
// (__bfloat162float may use cvt on sm_90, whose NaN result PTX leaves unspecified).
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) {
  return __uint_as_float(static_cast<unsigned int>(__bfloat16_as_ushort(v)) << 16);
}

// Round to nearest even with NaN kept quiet: bit for bit what trident::to_bf16 does on the host.
// (__float2bfloat16 rounds finite values and infinities the same way but turns every NaN into the
// canonical 0x7fff, so GPU and CPU bf16 tensors would differ in NaN payloads.)
__device__ __forceinline__ __nv_bfloat16 round_to_bf16(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __ushort_as_bfloat16(static_cast<unsigned short>((u >> 16) | 0x40u));
  u += 0x7fffu + ((u >> 16) & 1u);
  return __ushort_as_bfloat16(static_cast<unsigned short>(u >> 16));
}

// An f32 result stored as T (float or __nv_bfloat16).
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return round_to_bf16(v);
}

// ---- packs ---------------------------------------------------------------------------------------

// N consecutive elements, aligned to their size up to 16 bytes: a pack of at most 16 bytes moves
// as one access, a wider one (8 f32) as several 16-byte accesses.
template <typename T, int N>
struct alignas(sizeof(T) * N < 16 ? sizeof(T) * N : 16) Pack {
  T v[N];
};

// The machine word one access moves (uint4 = one 16-byte load or store).
template <std::size_t kBytes>
struct Word;
template <>
struct Word<16> {
  using type = uint4;
};
template <>
struct Word<8> {
  using type = uint2;
};
template <>
struct Word<4> {
  using type = unsigned int;
};
template <>
struct Word<2> {
  using type = unsigned short;
};

// Whether p may be read or written as Pack<T, N>; views made by slice0 may start anywhere.
template <int N, typename T>
inline bool pack_aligned(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % alignof(Pack<T, N>) == 0;
}

// p must be pack_aligned<N>. The words go through memcpy (register moves) so the access width is
// fixed at sizeof(Word), whatever the element type.
template <int N, typename T>
__device__ __forceinline__ Pack<T, N> load_pack(const T* p) {
  using W = typename Word<alignof(Pack<T, N>)>::type;
  constexpr int kWords = static_cast<int>(sizeof(Pack<T, N>) / sizeof(W));
  W words[kWords];
#pragma unroll
  for (int k = 0; k < kWords; ++k) words[k] = reinterpret_cast<const W*>(p)[k];
  Pack<T, N> pack;
  memcpy(&pack, words, sizeof(pack));
  return pack;
}

template <int N, typename T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, N>& pack) {
  using W = typename Word<alignof(Pack<T, N>)>::type;
  constexpr int kWords = static_cast<int>(sizeof(Pack<T, N>) / sizeof(W));
  W words[kWords];
  memcpy(words, &pack, sizeof(pack));
#pragma unroll
  for (int k = 0; k < kWords; ++k) reinterpret_cast<W*>(p)[k] = words[k];
}

// out[k] = p[k] in f32, k < N, as one pack (p pack_aligned<N>).
template <int N, typename T>
__device__ __forceinline__ void load_f32(const T* p, float (&out)[N]) {
  const Pack<T, N> pack = load_pack<N>(p);
#pragma unroll
  for (int k = 0; k < N; ++k) out[k] = to_f32(pack.v[k]);
}

// p[k] = in[k] converted to T, k < N, as one pack (p pack_aligned<N>).
template <int N, typename T>
__device__ __forceinline__ void store_f32(T* p, const float (&in)[N]) {
  Pack<T, N> pack;
#pragma unroll
  for (int k = 0; k < N; ++k) pack.v[k] = from_f32<T>(in[k]);
  store_pack<N>(p, pack);
}

// ---- thread positions ----------------------------------------------------------------------------

__device__ __forceinline__ int lane_index() { return static_cast<int>(threadIdx.x) % kWarpSize; }

// Kernels that give each row to one warp, kRowsPerBlock warps per block (1-D): this warp's row.
template <int kRowsPerBlock>
__device__ __forceinline__ std::int64_t warp_row() {
  return static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
}

// The position of this thread in a 1-D grid, and the grid's thread count (a grid-stride loop's step).
__device__ __forceinline__ std::int64_t grid_thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_threads() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// ---- reductions ----------------------------------------------------------------------------------

template <typename T>
struct SumOp {
  __device__ T operator()(T a, T b) const { return a + b; }
  __device__ static T identity() { return T(0); }
};

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }  // a NaN operand is ignored
  __device__ static float identity() { return -INFINITY; }
};

// op over the 32 lanes of a warp (all active), as a butterfly: every lane ends with the result,
// bit-identical across lanes (each step combines the same two values in either order, and the ops
// are commutative). Lane 0 combines values in the same tree as a __shfl_down reduction would.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, SumOp<T>());
}

// op over the whole block (blockDim.x a multiple of 32, at most 1024): each warp reduces its
// values, then warp 0 reduces the per-warp results (identity for the missing warps). The result
// is valid in thread 0. At most one call per kernel: the shared slots are not re-synchronised for
// a second use.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op) {
  __shared__ T per_warp[1024 / kWarpSize];
  const int lane = lane_index();
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  v = warp_reduce(v, op);
  if (lane == 0) per_warp[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x) / kWarpSize;
    v = lane < warps ? per_warp[lane] : Op::identity();
    v = warp_reduce(v, op);
  }
  return v;
}

// ---- launches ------------------------------------------------------------------------------------

__host__ __device__ constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Grid-stride kernels get at most this many blocks: 8 blocks of 256 threads fill an SM, so this
// is several waves on a 132-SM H100; more blocks would only add scheduling work.
constexpr std::int64_t kMaxGridStrideBlocks = 4096;

// Blocks for a grid-stride loop over `items` work items (elements or packs), `threads` per block:
// one item per thread, at least one block, at most max_blocks (the loop covers the rest).
inline int grid_stride_blocks(std::int64_t items, int threads, std::int64_t max_blocks = kMaxGridStrideBlocks) {
  const std::int64_t b = ceil_div(items, threads);
  return static_cast<int>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

// Calls f(std::integral_constant<int, N>{}) with N = kVec when `vectorised`, else N = 1: a launcher
// picks the pack width of its kernel template at run time, writing the launch once
// (kernel<decltype(width)::value><<<...>>>(...)).
template <int kVec, typename F>
void dispatch_pack_width(bool vectorised, F&& f) {
  if (vectorised) {
    f(std::integral_constant<int, kVec>{});
  } else {
    f(std::integral_constant<int, 1>{});
  }
}

}  // namespace trident::cuda_kernels
