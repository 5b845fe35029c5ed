// Elementwise ops, whole-tensor reductions, bias and GELU. Plain loops over contiguous f32 that the
// compiler vectorises; reductions go through the lane helpers of cpu_math.h.
#include <vector>

#include "core/cpu/cpu_check.h"
#include "core/cpu/cpu_math.h"
#include "core/cpu/cpu_ops.h"
#include "core/cpu/parallel_for.h"

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
  std::vector<double> acc(static_cast<std::size_t>(chunks * c), 0.0);
  cpu::parallel_for_chunks(rows, chunks, [&](std::int64_t chunk, std::int64_t lo, std::int64_t hi) {
    double* part = acc.data() + chunk * c;
    for (std::int64_t r = lo; r < hi; ++r) {
      const float* row = d + r * c;
      for (std::int64_t j = 0; j < c; ++j) part[j] += row[j];
    }
  });
  float* db = dbias.data<float>();
  for (std::int64_t j = 0; j < c; ++j) {
    double s = acc[static_cast<std::size_t>(j)];
    for (std::int64_t k = 1; k < chunks; ++k) s += acc[static_cast<std::size_t>(k * c + j)];
    db[j] += static_cast<float>(s);
  }
}

namespace {
constexpr float kGeluS = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluC = 0.044715f;
}  // namespace

// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
void CpuOps::gelu_forward(const Tensor& x, const Tensor& out) const {
  check_f32("gelu_forward", "x", x);
  check_f32("gelu_forward", "out", out);
  check_same_shape("gelu_forward", "x", x, "out", out);
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  cpu::parallel_for(x.numel(), cpu::kMinChunkElems, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const float v = xp[i];
      const float t = cpu::fast_tanh(kGeluS * (v + kGeluC * v * v * v));
      o[i] = 0.5f * v * (1.0f + t);
    }
  });
}

// gelu'(x) = 0.5·(1 + t) + 0.5·x·(1 - t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(√(2/π)·(x + 0.044715·x³))
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
    for (std::int64_t i = lo; i < hi; ++i) {
      const float v = xp[i];
      const float t = cpu::fast_tanh(kGeluS * (v + kGeluC * v * v * v));
      const float dt = kGeluS * (1.0f + 3.0f * kGeluC * v * v);
      g[i] = d[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dt);
    }
  });
}

}  // namespace trident
