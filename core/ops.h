// The op table: every computation a GPT block needs, forward and backward, as one interface with
// one implementation per device (core/cpu/cpu_ops.h, core/cuda/cuda_ops.h). Layers call
// ops_for(tensor.device()).op(...) and never branch on the device.
//
// Conventions (all ops):
// - Tensors are contiguous row-major; outputs are passed as `const Tensor&` handles and written.
// - Activations [B, S, C] are viewed as rows [N = B*S, C]; ops that say [N, C] accept any rank
//   whose last dim is C.
// - Input gradients (dx) are *written*; parameter gradients (dweight, dbias, dtable) are
//   *accumulated* (+=), so micro-batches accumulate without extra passes.
// - Backward is split into *_backward_input and *_backward_weight wherever a layer has weights,
//   because zero-bubble schedules run the two halves at different times.
// - The CPU table computes in f32; the CUDA table also takes bf16 activations and weights (its
//   header states the mixed-precision dtype rules); convert() moves between f32 and bf16.
#pragma once

#include <cstdint>

#include "core/device.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace trident {

// Shape of one strided-batched GEMM: for i in [0, batch):
//   C_i[m, n] = alpha * op(A_i) · op(B_i) + beta * C_i, with X_i = X + i * stride_x and leading
// dimensions (row strides, in elements) lda, ldb, ldc. Offsets are from each tensor's first element.
struct GemmBatch {
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

// The columns of the vocabulary a rank's logits cover (see the cross-entropy ops).
struct VocabShard {
  std::int64_t begin = 0;  // first vocab id of this rank's columns
  std::int64_t valid = 0;  // real columns (the rest of the shard is padding)
  std::int64_t vocab = 0;  // size of the full vocabulary, for checking targets
};

struct AdamWParams {
  float lr = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // decoupled: param -= lr * weight_decay * param
  std::int64_t step = 1;      // 1-based, for bias correction
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual Device device() const = 0;

  // ---- memory ---------------------------------------------------------------------------------
  virtual void fill(const Tensor& x, float value) const = 0;              // x[:] = value (any dtype)
  virtual void copy(const Tensor& src, const Tensor& dst) const = 0;      // same shape/dtype; host<->device
  virtual void convert(const Tensor& src, const Tensor& dst) const = 0;   // dtype change, same numel
  // Blocks the host until every op issued so far has finished (devices run ops asynchronously;
  // the CPU table's ops are done when they return). Errors raised on the device surface here.
  virtual void synchronize() const {}

  // ---- GEMM -----------------------------------------------------------------------------------
  // c[M, N] = alpha * op(a) · op(b) + beta * c.  a is [M, K] ([K, M] if trans_a), b is [K, N]
  // ([N, K] if trans_b); tensors of rank > 2 are viewed as_2d(). Linear layers with weight
  // W [in, out] (GPT-2 Conv1D layout): y = x·W is gemm(false, false), dx = dy·Wᵀ is
  // gemm(false, true), dW += xᵀ·dy is gemm(true, false, 1, x, dy, 1, dW).
  virtual void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta,
                    const Tensor& c) const = 0;
  virtual void gemm_strided_batched(bool trans_a, bool trans_b, const GemmBatch& shape, float alpha,
                                    const Tensor& a, const Tensor& b, float beta, const Tensor& c) const = 0;

  // ---- pointwise and reductions ---------------------------------------------------------------
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) const = 0;  // out = a + b; out may alias a or b
  virtual void axpy(float alpha, const Tensor& x, const Tensor& y) const = 0;       // y += alpha * x
  virtual void scale(const Tensor& x, float alpha) const = 0;                       // x *= alpha
  virtual double sum(const Tensor& x) const = 0;          // f64 accumulation
  virtual double sum_squares(const Tensor& x) const = 0;  // f64 accumulation; for gradient norms

  // x[N, C] += bias[C]  (also the learned position embedding: out[B, S*C] += wpe[S*C]).
  virtual void bias_add(const Tensor& x, const Tensor& bias) const = 0;
  // dbias[C] += sum over rows of dout[N, C].
  virtual void bias_backward(const Tensor& dout, const Tensor& dbias) const = 0;

  // GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). dx = dout · gelu'(x).
  virtual void gelu_forward(const Tensor& x, const Tensor& out) const = 0;
  virtual void gelu_backward(const Tensor& dout, const Tensor& x, const Tensor& dx) const = 0;
  // Fused bias + GELU (the MLP's up projection): x[N, C] += bias[C] in place (x becomes GELU's
  // input, which gelu_backward reads), then out = gelu(x). = bias_add(x, bias); gelu_forward(x, out).
  virtual void bias_gelu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) const = 0;

  // ---- LayerNorm over the last dim C: x[N, C] -> out[N, C]; saves mean[N], rstd[N] -----------
  virtual void layernorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                 const Tensor& out, const Tensor& mean, const Tensor& rstd) const = 0;
  virtual void layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& rstd, const Tensor& dx) const = 0;
  virtual void layernorm_backward_weight(const Tensor& dout, const Tensor& x, const Tensor& mean,
                                         const Tensor& rstd, const Tensor& dweight, const Tensor& dbias) const = 0;
  // Fused residual add + LayerNorm (pre-LN blocks: x1 = x + attn; ln_2(x1)): sum = a + b, then
  // layernorm_forward(sum, ...) into out, mean, rstd. sum may alias a or b.
  virtual void add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& sum, const Tensor& weight,
                                     const Tensor& bias, float eps, const Tensor& out, const Tensor& mean,
                                     const Tensor& rstd) const = 0;
  // LayerNorm's input gradient plus the gradient reaching x along the residual path:
  // dx = dresidual + layernorm_backward_input(dout, ...). dx may alias dresidual.
  virtual void layernorm_backward_input_add(const Tensor& dout, const Tensor& x, const Tensor& weight,
                                            const Tensor& mean, const Tensor& rstd, const Tensor& dresidual,
                                            const Tensor& dx) const = 0;

  // ---- causal self-attention core -------------------------------------------------------------
  // qkv [B, S, 3, nh, hd] (the output of the fused QKV linear, this rank's heads) ->
  // out [B, S, nh, hd] = softmax(mask(q·kᵀ / √hd)) · v per (batch, head).
  // Fused (flash-style) on every device: no [S, S] tensor is kept; `saved` holds the softmax
  // statistics backward needs, the row log-sum-exp f32 [B, nh, S, 1] on the CPU and the GPU.
  // Callers allocate attention_saved_shape().
  virtual Shape attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const = 0;
  virtual void attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out,
                                 const Tensor& saved) const = 0;
  // dqkv [B, S, 3, nh, hd] is written.
  virtual void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& out, const Tensor& saved,
                                  std::int64_t heads, const Tensor& dqkv) const = 0;
  // Generation with a KV cache (no backward): qkv [B, T, 3, nh, hd] projects T new tokens at
  // positions [past, past + T). Their k and v are written to rows [past, past + T) of k_cache and
  // v_cache [B, nh, C, hd] (C >= past + T; rows before `past` hold the earlier tokens'), then
  //   out[b, t, n] = softmax_j(q[b, t, n]·k_cache[b, n, j] / √hd) · v_cache[b, n, j],  j <= past + t
  // (out [B, T, nh, hd]): causal attention over the whole prefix, which is never recomputed.
  // Scores and softmax in f32; caches and out have qkv's dtype.
  virtual void attention_cached(const Tensor& qkv, std::int64_t heads, std::int64_t past, const Tensor& k_cache,
                                const Tensor& v_cache, const Tensor& out) const = 0;

  // ---- embedding lookup over a row range of a (possibly vocab-sharded) table ------------------
  // out[N, C] = table[ids[n] - row_begin] when row_begin <= ids[n] < row_begin + R, else 0.
  // table is [R, C]; ids are i32 [N].
  virtual void embedding_forward(const Tensor& ids, const Tensor& table, std::int64_t row_begin,
                                 const Tensor& out) const = 0;
  // dtable[ids[n] - row_begin] += dout[n] for ids inside this shard's rows.
  virtual void embedding_backward(const Tensor& dout, const Tensor& ids, std::int64_t row_begin,
                                  const Tensor& dtable) const = 0;

  // ---- cross-entropy from (vocab-sharded) logits ---------------------------------------------
  // Megatron's vocab-parallel cross-entropy: full logits never exist on one rank. A rank holds
  // logits [N, Vl] for vocab ids [shard.begin, shard.begin + Vl), of which the first shard.valid
  // columns are real (the rest is TP padding and never enters the softmax). Per row:
  //   row_max        = max over real local columns            -> all_reduce(max) over TP
  //   sum_exp, tgt   = Σ exp(logit − row_max), target's logit  -> all_reduce(sum) over TP
  //                    (tgt = 0 on ranks not holding the target)
  //   loss           = log(sum_exp) + row_max − tgt
  // With tp = 1 (shard = whole vocabulary) the reductions are no-ops. targets are i32 [N] in
  // [0, shard.vocab); anything else is an error naming the row.
  virtual void cross_entropy_row_max(const Tensor& logits, const VocabShard& shard, const Tensor& row_max) const = 0;
  virtual void cross_entropy_sums(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                  const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit) const = 0;
  // losses[N] = log(sum_exp) + row_max − target_logit (after the reductions).
  virtual void cross_entropy_losses(const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit,
                                    const Tensor& losses) const = 0;
  // dlogits[n, j] = dloss · (exp(logits[n, j] − row_max[n]) / sum_exp[n] − [shard.begin + j == t]) for
  // real columns, 0 for padding. dloss is d(objective)/d(losses[n]), the same for every row (1/N
  // for a mean). Written, not accumulated; dlogits may alias logits (the gradient in place).
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                                      const Tensor& row_max, const Tensor& sum_exp, float dloss,
                                      const Tensor& dlogits) const = 0;
  // All of the above in one pass per row when one rank holds the whole vocabulary (tp = 1:
  // shard.begin = 0, shard.valid = shard.vocab): losses[N] are written and logits are overwritten
  // by dlogits (as cross_entropy_backward with this dloss). A sharded vocabulary is an error: it
  // needs the reductions between the steps.
  virtual void cross_entropy_fused(const Tensor& logits, const Tensor& targets, const VocabShard& shard, float dloss,
                                   const Tensor& losses) const = 0;

  // ---- optimizer ------------------------------------------------------------------------------
  // AdamW on f32 param/grad/m/v of equal shape: m, v updated in place, then
  // param -= lr · (m̂ / (√v̂ + eps) + weight_decay · param).
  virtual void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                            const AdamWParams& p) const = 0;
};

// The op table of a device: the CPU table, or the CUDA table of GPU N in a CUDA build (a clear
// error in a CPU-only build or when the GPU is missing).
const Ops& ops_for(Device device);

}  // namespace trident
