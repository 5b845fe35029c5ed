// The CPU op table: OpenBLAS for GEMMs, flash-style tiled attention on its own AVX-512 micro-kernel
// (cpu_attention.cpp, tile_gemm.h), plain C++ loops (vectorised by the compiler) for the rest, f32
// compute. Implementations are split by concern across core/cpu/*.cpp.
#pragma once

#include "core/ops.h"

namespace trident {

class CpuOps final : public Ops {
 public:
  Device device() const override { return Device::cpu(); }

  void fill(const Tensor& x, float value) const override;
  void copy(const Tensor& src, const Tensor& dst) const override;
  void convert(const Tensor& src, const Tensor& dst) const override;

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
                        const Tensor& v_cache, const Tensor& out) const override;  // cpu_attention_cached.cpp

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
};

}  // namespace trident
