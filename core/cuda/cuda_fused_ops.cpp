// CudaOps' fused entries (bias + GELU, residual add + LayerNorm forward and input backward, the
// tp = 1 cross-entropy): on the GPU they run as the composition of the unfused kernels, enqueued
// back to back on the compute stream, which is exactly their definition in core/ops.h. The GPU
// step is dominated by cuBLASLt GEMMs and cuDNN attention; the point of these entries is the CPU
// table's fused kernels, and the CUDA table only has to compute the same thing.
#include "core/cuda/cuda_ops.h"
#include "core/error.h"

namespace trident {

void CudaOps::bias_gelu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) const {
  bias_add(x, bias);
  gelu_forward(x, out);
}

void CudaOps::add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& sum, const Tensor& weight,
                                    const Tensor& bias, float eps, const Tensor& out, const Tensor& mean,
                                    const Tensor& rstd) const {
  add(a, b, sum);
  layernorm_forward(sum, weight, bias, eps, out, mean, rstd);
}

void CudaOps::layernorm_backward_input_add(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                           const Tensor& mean, const Tensor& rstd, const Tensor& dresidual,
                                           const Tensor& dx) const {
  const Tensor g = Tensor::empty(dx.shape(), dx.dtype(), dx.device());  // from the caching allocator
  layernorm_backward_input(dout, x, weight, mean, rstd, g);
  add(dresidual, g, dx);
}

void CudaOps::cross_entropy_fused(const Tensor& logits, const Tensor& targets, const VocabShard& shard, float dloss,
                                  const Tensor& losses) const {
  TRIDENT_CHECK(shard.begin == 0 && shard.valid == shard.vocab, "cross_entropy_fused: the shard [", shard.begin, ", ",
                shard.begin + shard.valid, ") is not the whole vocabulary of ", shard.vocab,
                "; a vocab-parallel (tp > 1) loss needs row_max / sums / losses / backward with the reductions between");
  const std::int64_t n = losses.numel();
  const Tensor stats = Tensor::empty({3, n}, DType::kF32, logits.device());
  const Tensor row_max = stats.slice0(0, 1).view({n}), sum_exp = stats.slice0(1, 2).view({n}),
               target_logit = stats.slice0(2, 3).view({n});
  cross_entropy_row_max(logits, shard, row_max);
  cross_entropy_sums(logits, targets, shard, row_max, sum_exp, target_logit);
  cross_entropy_losses(row_max, sum_exp, target_logit, losses);
  cross_entropy_backward(logits, targets, shard, row_max, sum_exp, dloss, logits);  // in place
}

}  // namespace trident
