// Elementwise ops, whole-tensor reductions, bias and GELU. Plain loops over contiguous f32 that the
// compiler vectorises; reductions go through the lane helpers of cpu_math.h.
#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"
#include "core/cpu/simd.h"
#include "core/cpu/thread_scratch.h"

namespace trident {

using cpu::check_f32;
using cpu::check_same_shape;

// out = a + b (out may alias a or b: each element is read before it is written).
void CpuOps::add(const Tensor& a, const Tensor& b, const Tensor& out) const {
  check_f32("add", "a", a);
  check_f32("add", "b", b);
  check_f32("add", "out", out);
  check_same_shape("add", "a", a, "b", b);
  check_same_shape("add", "a", a, "out", out);
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* o = out.data<float>();
  cpu::parallel_for(a.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) o[i] = x[i] + y[i];
  });
}

// y += alpha * x
void CpuOps::axpy(float alpha, const Tensor& x, const Tensor& y) const {
  check_f32("axpy", "x", x);
  check_f32("axpy", "y", y);
  check_same_shape("axpy", "x", x, "y", y);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  cpu::parallel_for(x.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) yp[i] += alpha * xp[i];
  });
}

// x *= alpha
void CpuOps::scale(const Tensor& x, float alpha) const {
  check_f32("scale", "x", x);
  float* p = x.data<float>();
  cpu::parallel_for(x.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) p[i] *= alpha;
  });
}

double CpuOps::sum(const Tensor& x) const {
  check_f32("sum", "x", x);
  return cpu::lane_sum_double<false>(x.data<float>(), x.numel());
}

double CpuOps::sum_squares(const Tensor& x) const {
  check_f32("sum_squares", "x", x);
  return cpu::lane_sum_double<true>(x.data<float>(), x.numel());
}

namespace {
// Rows per chunk for the column reductions (bias_backward); independent of C on purpose.
constexpr std::int64_t kReduceRowGrain = 32;

// Rows of an [N, C] tensor whose C must equal bias's single extent.
std::int64_t rows_for_bias(const char* op, const char* xname, const Tensor& x, const char* bname, const Tensor& bias) {
  check_f32(op, xname, x);
  check_f32(op, bname, bias);
  TRIDENT_CHECK(bias.ndim() == 1, op, ": ", bname, " must be 1-D [C], got ", bias.shape().str());
  const std::int64_t c = cpu::last_dim(op, xname, x);
  TRIDENT_CHECK(bias.dim(0) == c, op, ": ", bname, " ", bias.shape().str(), " does not match ", xname, "'s last dim ",
                c, " (", xname, " is ", x.shape().str(), ")");
  return c == 0 ? 0 : x.numel() / c;
}
}  // namespace

// x[N, C] += bias[C]
void CpuOps::bias_add(const Tensor& x, const Tensor& bias) const {
  const std::int64_t rows = rows_for_bias("bias_add", "x", x, "bias", bias);
  const std::int64_t c = bias.dim(0);
  float* xp = x.data<float>();
  const float* bp = bias.data<float>();
  cpu::parallel_for(rows, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t r = lo; r < hi; ++r) {
      float* row = xp + r * c;
      for (std::int64_t j = 0; j < c; ++j) row[j] += bp[j];
    }
  });
}

// dbias[C] += Σ_n dout[n, C], summed in double across rows (N can be thousands of tokens). Each
// chunk of rows sums into its own partial and the partials are added in chunk order, so the result
// is fixed for a given thread count. The row grain does not depend on C, so a column-sharded
// (tensor-parallel) bias sums each column in the same order as the unsharded one.
void CpuOps::bias_backward(const Tensor& dout, const Tensor& dbias) const {
  const std::int64_t rows = rows_for_bias("bias_backward", "dout", dout, "dbias", dbias);
  const std::int64_t c = dbias.dim(0);
  const float* d = dout.data<float>();
  const std::int64_t chunks = cpu::parallel_chunks(rows, kReduceRowGrain);
  double* acc = cpu::thread_scratch_doubles(static_cast<std::size_t>(chunks * c));
  cpu::parallel_for_chunks(rows, chunks, [&](std::int64_t chunk, std::int64_t lo, std::int64_t hi) {
    double* part = acc + chunk * c;
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* row = d + r * c;
      for (std::int64_t j = 0; j < c; ++j) part[j] += row[j];
    }
  });
  float* db = dbias.data<float>();
  for (std::int64_t j = 0; j < c; ++j) {
    double s = acc[j];
    for (std::int64_t k = 1; k < chunks; ++k) s += acc[k * c + j];
    db[j] += static_cast<float>(s);
  }
}

namespace {
constexpr float kGeluS = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluC = 0.044715f;

using cpu::simd::Vec;

// GELU, tanh form, through 0.5·(1 + tanh u) = σ(2u): gelu(x) = x / (1 + e^(-2u)) with
// u = √(2/π)·(x + 0.044715·x³): one exponential and one division per element, 16 lanes at a time.
inline Vec gelu(Vec x) {
  using namespace cpu::simd;
  const Vec m2u = mul(set1(-2.0f * kGeluS), fma(mul(set1(kGeluC), mul(x, x)), x, x));
  return div(x, add(set1(1.0f), exp(m2u)));
}

// gelu'(x) = s + 2·x·s·(1 - s)·√(2/π)·(1 + 3·0.044715·x²) with s = σ(2u) (= 0.5·(1 + tanh u)).
inline Vec gelu_grad(Vec x) {
  using namespace cpu::simd;
  const Vec x2 = mul(x, x);
  const Vec m2u = mul(set1(-2.0f * kGeluS), fma(mul(set1(kGeluC), x2), x, x));
  const Vec s = div(set1(1.0f), add(set1(1.0f), exp(m2u)));
  const Vec du2 = mul(set1(2.0f * kGeluS), fma(set1(3.0f * kGeluC), x2, set1(1.0f)));
  return fma(mul(x, mul(s, sub(set1(1.0f), s))), du2, s);
}

// out[i] = f(i-th vectors of the inputs) over [lo, hi), whole vectors then a masked tail.
template <typename F>
inline void for_vectors(std::int64_t lo, std::int64_t hi, F f) {
  constexpr std::int64_t w = cpu::simd::kWidth;
  std::int64_t i = lo;
  for (; i + w <= hi; i += w) f(i, static_cast<int>(w));
  if (i < hi) f(i, static_cast<int>(hi - i));
}
}  // namespace

void CpuOps::gelu_forward(const Tensor& x, const Tensor& out) const {
  check_f32("gelu_forward", "x", x);
  check_f32("gelu_forward", "out", out);
  check_same_shape("gelu_forward", "x", x, "out", out);
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  cpu::parallel_for(x.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    using namespace cpu::simd;
    for_vectors(lo, hi, [&](std::int64_t i, int n) { store_first(o + i, gelu(load_first(xp + i, n)), n); });
  });
}

void CpuOps::gelu_backward(const Tensor& dout, const Tensor& x, const Tensor& dx) const {
  check_f32("gelu_backward", "dout", dout);
  check_f32("gelu_backward", "x", x);
  check_f32("gelu_backward", "dx", dx);
  check_same_shape("gelu_backward", "x", x, "dout", dout);
  check_same_shape("gelu_backward", "x", x, "dx", dx);
  const float* d = dout.data<float>();
  const float* xp = x.data<float>();
  float* g = dx.data<float>();
  cpu::parallel_for(x.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    using namespace cpu::simd;
    for_vectors(lo, hi, [&](std::int64_t i, int n) {
      store_first(g + i, mul(load_first(d + i, n), gelu_grad(load_first(xp + i, n))), n);
    });
  });
}

// x[N, C] += bias; out = gelu(x): one read of x, two writes, where bias_add + gelu_forward read x twice.
void CpuOps::bias_gelu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) const {
  const std::int64_t rows = rows_for_bias("bias_gelu_forward", "x", x, "bias", bias);
  check_f32("bias_gelu_forward", "out", out);
  check_same_shape("bias_gelu_forward", "x", x, "out", out);
  const std::int64_t c = bias.dim(0);
  float* xp = x.data<float>();
  const float* bp = bias.data<float>();
  float* o = out.data<float>();
  cpu::parallel_for(rows, cpu::row_grain(c), [=](std::int64_t lo, std::int64_t hi) {
    using namespace cpu::simd;
    for (std::int64_t r = lo; r < hi; ++r) {
      float* row = xp + r * c;
      float* orow = o + r * c;
      for_vectors(0, c, [&](std::int64_t j, int n) {
        const Vec v = cpu::simd::add(load_first(row + j, n), load_first(bp + j, n));
        store_first(row + j, v, n);
        store_first(orow + j, gelu(v), n);
      });
    }
  });
}

}  // namespace trident
