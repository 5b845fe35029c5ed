// The CUDA op table: cuBLASLt GEMMs, cuDNN fused attention, CUDA kernels for the rest, all
// enqueued on the device's compute stream (core/cuda/cuda_context.h) and never synchronising
// the host except where an op returns a host value (sum, sum_squares) or copies to the host.
//
// Mixed precision (bf16 compute, f32 master state) is a matter of dtypes, not of separate ops:
// - Activations (x, out, dout, dx, qkv, logits, dlogits) are bf16 or f32; one op's activation
//   operands share a dtype.
// - Weights read by an op (LayerNorm weight/bias, a bias, the embedding table, GEMM operands)
//   are bf16 compute copies or f32 masters; GEMM a and b share a dtype.
// - Parameter gradients (dweight, dbias, dtable, and a GEMM's c when it accumulates a weight
//   gradient from bf16 a and b) are f32 and accumulated (+=).
// - Statistics (LayerNorm mean/rstd, cross-entropy row max/sums/losses, attention's saved
//   softmax statistics) are f32. All arithmetic accumulates in f32.
// - Optimizer state (param, grad, m, v) is f32.
//
// Implementations are split by concern across core/cuda/cuda_*.cpp (host side: checks, dtype
// dispatch, library calls) and core/cuda/*.cu (kernels with raw-pointer launchers).
#pragma once

#include "core/cuda/cuda_context.h"
#include "core/ops.h"

namespace trident {

class CudaOps final : public Ops {
 public:
  explicit CudaOps(int device) : device_(device), ctx_(CudaContext::get(device)) {}
  Device device() const override { return Device::cuda(device_); }
  CudaContext& context() const { return ctx_; }
  cudaStream_t stream() const { return ctx_.compute_stream(); }

  void fill(const Tensor& x, float value) const override;
  void copy(const Tensor& src, const Tensor& dst) const override;
  void convert(const Tensor& src, const Tensor& dst) const override;
  void synchronize() const override { stream_synchronize(stream()); }

  void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) const override;
  void gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& shape, float alpha, const Tensor& a,
                            const Tensor& b, float beta, const Tensor& c) const override;

  void add(const Tensor& a, const Tensor& b, const Tensor& out) const override;
  void axpy(float alpha, const Tensor& x, const Tensor& y) const override;
  void scale(const Tensor& x, float alpha) const override;
  double sum(const Tensor& x) const override;
  double sum_squares(const Tensor& x) const override;
  void bias_add(const Tensor& x, const Tensor& bias) const override;
  void bias_backward(const Tensor& dout, const Tensor& dbias) const override;
  void gelu_forward(const Tensor& x, const Tensor& out) const override;
  void gelu_backward(const Tensor& dout, const Tensor& x, const Tensor& dx) const override;
  void bias_gelu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) const override;

  void layernorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, const Tensor& out,
                         const Tensor& mean, const Tensor& rstd) const override;
  void layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                const Tensor& rstd, const Tensor& dx) const override;
  void layernorm_backward_weight(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                 const Tensor& dweight, const Tensor& dbias) const override;
  void add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& sum, const Tensor& weight,
                             const Tensor& bias, float eps, const Tensor& out, const Tensor& mean,
                             const Tensor& rstd) const override;
  void layernorm_backward_input_add(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dresidual, const Tensor& dx) const override;

  Shape attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const override;
  void attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out,
                         const Tensor& saved) const override;
  void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& out, const Tensor& saved,
                          std::int64_t heads, const Tensor& dqkv) const override;
  void attention_cached(const Tensor& qkv, std::int64_t heads, std::int64_t past, const Tensor& k_cache,
                        const Tensor& v_cache, const Tensor& out) const override;  // cuda_attention_cached.cpp

  void embedding_forward(const Tensor& ids, const Tensor& table, std::int64_t row_begin,
                         const Tensor& out) const override;
  void embedding_backward(const Tensor& dout, const Tensor& ids, std::int64_t row_begin,
                          const Tensor& dtable) const override;

  void cross_entropy_row_max(const Tensor& logits, const VocabShard& shard, const Tensor& row_max) const override;
  void cross_entropy_sums(const Tensor& logits, const Tensor& targets, const VocabShard& shard, const Tensor& row_max,
                          const Tensor& sum_exp, const Tensor& target_logit) const override;
  void cross_entropy_losses(const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit,
                            const Tensor& losses) const override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                              const Tensor& row_max, const Tensor& sum_exp, float dloss,
                              const Tensor& dlogits) const override;
  void cross_entropy_fused(const Tensor& logits, const Tensor& targets, const VocabShard& shard, float dloss,
                           const Tensor& losses) const override;

  void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                    const AdamWParams& p) const override;

 private:
  int device_;
  CudaContext& ctx_;
};

// Checks shared by the CUDA op implementations (core/cuda/cuda_ops_check.cpp): that a tensor is
// on this op table's GPU, and that its dtype is one the op accepts. Messages name op and operand.
void cuda_check_on_device(const char* op, const char* what, const Tensor& t, int device);
void cuda_check_float(const char* op, const char* what, const Tensor& t);  // f32 or bf16
void cuda_check_dtype(const char* op, const char* what, const Tensor& t, DType expected);

}  // namespace trident
