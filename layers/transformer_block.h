// One pre-LN GPT-2 block:  x1 = x + Attn(LN1(x));  x2 = x1 + MLP(LN2(x1)).
// Activations between regions are [n_local, h] (token-split under sequence parallelism).
//
// The residual adds are fused into their neighbours: x1 = x + attn(...) with ln_2 (add_layernorm_forward),
// and in backward each residual gradient with the LayerNorm input gradient it joins
// (layernorm_backward_input_add).
//
// Recompute (TensorParallelOptions): selective drops the attention core's output and statistics and
// the GELU output, rebuilt inside ParallelAttention / ParallelMlp::backward_input; full keeps only the
// block's input after forward and reruns the forward (collectives included, in the same order on
// every TP rank) at the start of backward_input.
#pragma once

#include "layers/layer_norm.h"
#include "layers/parallel_attention.h"
#include "layers/parallel_mlp.h"

namespace trident {

class TransformerBlock {
 public:
  struct Saved {
    Tensor input;  // [n_local, h]: always kept (the only thing kept under full recompute)
    LayerNorm::Saved ln_1;
    ParallelAttention::Saved attn;
    LayerNorm::Saved ln_2;
    ParallelMlp::Saved mlp;
    template <typename F> void for_each(F&& f) const {
      f(input), ln_1.for_each(f), attn.for_each(f), ln_2.for_each(f), mlp.for_each(f);
    }
  };

  TransformerBlock(int index, const GptConfig& config, const TensorParallel& tp, Device device);

  Tensor forward(const Tensor& x, Saved& s) const;
  // Generation (kv_cache.h): x [B·T, h] -> [B·T, h], attention through the block's KV cache.
  Tensor forward_cached(const Tensor& x, std::int64_t batch, std::int64_t past, const Tensor& k_cache,
                        const Tensor& v_cache) const;
  Tensor backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);

  // Forward FLOPs of this rank for `batch` sequences (matmuls only).
  double flops_forward(std::int64_t batch) const;

  void collect(ParameterList& out);
  LayerNorm ln_1;
  ParallelAttention attn;
  LayerNorm ln_2;
  ParallelMlp mlp;

 private:
  Tensor run_forward(const Tensor& x, Saved& s) const;
  const TensorParallel& tp_;
  std::int64_t seq_len_;
};

}  // namespace trident
