// CudaOps causal self-attention: qkv [B, S, 3, nh, hd] -> out [B, S, nh, hd], saving the softmax
// statistics (row logsumexp, f32 [B, nh, S, 1]) for backward. Two paths with one saved shape:
// - bf16 (training): cuDNN's fused flash attention (core/cuda/cudnn_sdpa.cpp).
// - f32 (tests, CPU-equality checks; cuDNN's flash engines are fp16/bf16 only): cuBLASLt GEMMs per
//   batch element, each a strided batch over the heads reading Q, K, V in place inside qkv (head h
//   of token s at qkv[b, s, {0,1,2}, h, :], leading dimension 3·nh·hd), plus the softmax kernels of
//   core/cuda/attention_kernels.cu. Scores and probabilities go through [B, nh, S, S] f32 scratch
//   from the caching allocator, so this path costs O(B·nh·S²) memory: meant for checks, not for
//   long sequences.
#include <cmath>

#include "core/cuda/attention_kernels.h"
#include "core/cuda/cublaslt_matmul.h"
#include "core/cuda/cudnn_sdpa.h"
#include "core/cuda/cuda_ops.h"
#include "core/error.h"
#include "core/fused_attention.h"

namespace trident {

namespace {

struct AttnDims {
  std::int64_t b, s, nh, hd;
  std::int64_t c() const { return nh * hd; }        // row stride of out / dout
  std::int64_t ld3() const { return 3 * nh * hd; }  // row stride of qkv / dqkv
  std::int64_t rows() const { return b * nh * s; }  // rows of the score matrices
  SdpaShape sdpa() const { return SdpaShape{b, nh, s, hd}; }
};

// qkv is [B, S, 3, nh, hd] (or any view [B, S, ...] with 3·nh·hd elements per token), f32 or bf16.
AttnDims check_qkv(const char* op, const char* name, const Tensor& qkv, std::int64_t heads, int device) {
  cuda_check_on_device(op, name, qkv, device);
  cuda_check_float(op, name, qkv);
  TRIDENT_CHECK(heads >= 1, op, ": heads must be >= 1, got ", heads);
  TRIDENT_CHECK(qkv.ndim() >= 3, op, ": ", name, " ", qkv.shape().str(), " should be [B, S, 3, nh, hd]");
  const std::int64_t b = qkv.dim(0), s = qkv.dim(1);
  const std::int64_t per_token = b * s == 0 ? 0 : qkv.numel() / (b * s);
  TRIDENT_CHECK(b * s == 0 || (per_token % (3 * heads) == 0 && per_token > 0), op, ": ", name, " ",
                qkv.shape().str(), " has ", per_token, " values per token, not a multiple of 3 x ", heads, " heads");
  if (qkv.ndim() == 5)
    TRIDENT_CHECK(qkv.dim(2) == 3 && qkv.dim(3) == heads, op, ": ", name, " ", qkv.shape().str(),
                  " should be [B, S, 3, ", heads, ", hd]");
  return {b, s, heads, per_token / (3 * heads)};
}

// An activation of the same dtype as qkv, [B, S, nh, hd] (or any view with that many elements).
void check_rows(const char* op, const char* name, const Tensor& t, const Tensor& qkv, const AttnDims& d, int device) {
  cuda_check_on_device(op, name, t, device);
  TRIDENT_CHECK(t.dtype() == qkv.dtype(), op, ": ", name, " is ", dtype_name(t.dtype()), " but qkv is ",
                dtype_name(qkv.dtype()), "; attention's activations share one dtype");
  TRIDENT_CHECK(t.ndim() >= 2 && t.dim(0) == d.b && t.dim(1) == d.s && t.numel() == d.b * d.s * d.c(), op, ": ", name,
                " ", t.shape().str(), " should be [", d.b, ", ", d.s, ", ", d.nh, ", ", d.hd, "]");
}

void check_saved(const char* op, const Tensor& saved, const AttnDims& d, int device) {
  cuda_check_on_device(op, "saved", saved, device);
  cuda_check_dtype(op, "saved", saved, DType::kF32);
  TRIDENT_CHECK(saved.numel() == d.b * d.nh * d.s, op, ": saved ", saved.shape().str(), " should be [", d.b, ", ",
                d.nh, ", ", d.s, ", 1] (the CUDA table saves softmax statistics; allocate "
                "ops.attention_saved_shape() of the tensor's device)");
}

float attention_scale(const AttnDims& d) { return 1.0f / std::sqrt(static_cast<float>(d.hd)); }

// p[b] = scale · Q_b·K_bᵀ for every batch element b: per b, a strided batch over heads (head h of Q
// starts h·hd elements into the token row; rows are 3·nh·hd apart), into p [B, nh, S, S].
void scores_f32(CudaContext& ctx, const AttnDims& d, const float* qkv, float* p) {
  GemmBatch g;
  g.batch = d.nh;
  g.m = d.s;
  g.n = d.s;
  g.k = d.hd;
  g.lda = d.ld3();
  g.ldb = d.ld3();
  g.ldc = d.s;
  g.stride_a = d.hd;
  g.stride_b = d.hd;
  g.stride_c = d.s * d.s;
  for (std::int64_t b = 0; b < d.b; ++b) {
    const float* q = qkv + b * d.s * d.ld3();
    cublaslt_gemm(ctx, false, true, g, attention_scale(d), q, q + d.c(), DType::kF32, 0.0f, p + b * d.nh * d.s * d.s,
                  DType::kF32);
  }
}

void forward_f32(CudaContext& ctx, const AttnDims& d, const float* qkv, float* out, float* lse) {
  const Tensor probs = Tensor::empty({d.b, d.nh, d.s, d.s}, DType::kF32, Device::cuda(ctx.device()));
  float* p = probs.data<float>();
  scores_f32(ctx, d, qkv, p);
  cuda_kernels::launch_causal_softmax_forward(p, lse, d.rows(), d.s, ctx.compute_stream());
  // O_b = P_b · V_b, head h written at column h·hd of out's rows (leading dimension nh·hd).
  GemmBatch g;
  g.batch = d.nh;
  g.m = d.s;
  g.n = d.hd;
  g.k = d.s;
  g.lda = d.s;
  g.ldb = d.ld3();
  g.ldc = d.c();
  g.stride_a = d.s * d.s;
  g.stride_b = d.hd;
  g.stride_c = d.hd;
  for (std::int64_t b = 0; b < d.b; ++b)
    cublaslt_gemm(ctx, false, false, g, 1.0f, p + b * d.nh * d.s * d.s, qkv + b * d.s * d.ld3() + 2 * d.c(),
                  DType::kF32, 0.0f, out + b * d.s * d.c(), DType::kF32);
}

// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dO ∘ O)), dQ = scale·dS·K, dK = scale·dSᵀ·Q, with P
// rebuilt from Q, K and the saved logsumexp.
void backward_f32(CudaContext& ctx, const AttnDims& d, const float* dout, const float* qkv, const float* out,
                  const float* lse, float* dqkv) {
  const Device dev = Device::cuda(ctx.device());
  const Tensor probs = Tensor::empty({d.b, d.nh, d.s, d.s}, DType::kF32, dev);
  const Tensor grads = Tensor::empty({d.b, d.nh, d.s, d.s}, DType::kF32, dev);  // dP, then dS
  const Tensor dots = Tensor::empty({d.b, d.nh, d.s}, DType::kF32, dev);
  float* p = probs.data<float>();
  float* ds = grads.data<float>();
  const cudaStream_t stream = ctx.compute_stream();
  const std::int64_t ss = d.s * d.s, c = d.c(), ld3 = d.ld3();

  scores_f32(ctx, d, qkv, p);
  cuda_kernels::launch_causal_probs_from_lse(p, lse, d.rows(), d.s, stream);
  cuda_kernels::launch_attention_row_dots(dout, out, dots.data<float>(), d.b, d.s, d.nh, d.hd, stream);

  GemmBatch dv;  // dV_b[S, hd] = P_bᵀ · dO_b
  dv.batch = d.nh;
  dv.m = d.s;
  dv.n = d.hd;
  dv.k = d.s;
  dv.lda = d.s;
  dv.ldb = c;
  dv.ldc = ld3;
  dv.stride_a = ss;
  dv.stride_b = d.hd;
  dv.stride_c = d.hd;
  GemmBatch dp;  // dP_b[S, S] = dO_b · V_bᵀ
  dp.batch = d.nh;
  dp.m = d.s;
  dp.n = d.s;
  dp.k = d.hd;
  dp.lda = c;
  dp.ldb = ld3;
  dp.ldc = d.s;
  dp.stride_a = d.hd;
  dp.stride_b = d.hd;
  dp.stride_c = ss;
  for (std::int64_t b = 0; b < d.b; ++b) {
    const float* x = qkv + b * d.s * ld3;
    const float* g = dout + b * d.s * c;
    float* dx = dqkv + b * d.s * ld3;
    cublaslt_gemm(ctx, true, false, dv, 1.0f, p + b * d.nh * ss, g, DType::kF32, 0.0f, dx + 2 * c, DType::kF32);
    cublaslt_gemm(ctx, false, true, dp, 1.0f, g, x + 2 * c, DType::kF32, 0.0f, ds + b * d.nh * ss, DType::kF32);
  }
  cuda_kernels::launch_softmax_backward(ds, p, dots.data<float>(), d.rows(), d.s, stream);

  GemmBatch dq;  // dQ_b[S, hd] = scale · dS_b · K_b   (dK the same with dS_bᵀ and Q_b)
  dq.batch = d.nh;
  dq.m = d.s;
  dq.n = d.hd;
  dq.k = d.s;
  dq.lda = d.s;
  dq.ldb = ld3;
  dq.ldc = ld3;
  dq.stride_a = ss;
  dq.stride_b = d.hd;
  dq.stride_c = d.hd;
  const float scale = attention_scale(d);
  for (std::int64_t b = 0; b < d.b; ++b) {
    const float* x = qkv + b * d.s * ld3;
    float* dx = dqkv + b * d.s * ld3;
    const float* dsb = ds + b * d.nh * ss;
    cublaslt_gemm(ctx, false, false, dq, scale, dsb, x + c, DType::kF32, 0.0f, dx, DType::kF32);
    cublaslt_gemm(ctx, true, false, dq, scale, dsb, x, DType::kF32, 0.0f, dx + c, DType::kF32);
  }
}

}  // namespace

Shape CudaOps::attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const {
  return fused_attention_saved_shape(batch, heads, seq);
}

void CudaOps::attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out, const Tensor& saved) const {
  const char* op = "attention_forward";
  const AttnDims d = check_qkv(op, "qkv", qkv, heads, device_);
  check_rows(op, "out", out, qkv, d, device_);
  check_saved(op, saved, d, device_);
  if (qkv.dtype() == DType::kBF16) cudnn_sdpa_check_shape(op, ctx_, d.sdpa());
  if (d.b * d.s == 0) return;
  CudaDeviceGuard guard(device_);
  if (qkv.dtype() == DType::kBF16)
    cudnn_sdpa_forward(ctx_, d.sdpa(), qkv.raw(), out.raw(), saved.data<float>());
  else
    forward_f32(ctx_, d, qkv.data<float>(), out.data<float>(), saved.data<float>());
}

void CudaOps::attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                 std::int64_t heads, const Tensor& dqkv) const {
  const char* op = "attention_backward";
  const AttnDims d = check_qkv(op, "qkv", qkv, heads, device_);
  check_rows(op, "dout", dout, qkv, d, device_);
  check_rows(op, "out", out, qkv, d, device_);
  check_saved(op, saved, d, device_);
  cuda_check_on_device(op, "dqkv", dqkv, device_);
  TRIDENT_CHECK(dqkv.dtype() == qkv.dtype(), op, ": dqkv is ", dtype_name(dqkv.dtype()), " but qkv is ",
                dtype_name(qkv.dtype()), "; attention's activations share one dtype");
  TRIDENT_CHECK(dqkv.numel() == qkv.numel(), op, ": dqkv ", dqkv.shape().str(), " does not match qkv ",
                qkv.shape().str());
  if (qkv.dtype() == DType::kBF16) cudnn_sdpa_check_shape(op, ctx_, d.sdpa());
  if (d.b * d.s == 0) return;
  CudaDeviceGuard guard(device_);
  if (qkv.dtype() == DType::kBF16)
    cudnn_sdpa_backward(ctx_, d.sdpa(), qkv.raw(), out.raw(), dout.raw(), saved.data<float>(), dqkv.raw());
  else
    backward_f32(ctx_, d, dout.data<float>(), qkv.data<float>(), out.data<float>(), saved.data<float>(),
                 dqkv.data<float>());
}

}  // namespace trident
