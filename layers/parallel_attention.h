// Causal multi-head self-attention, heads split over TP: the fused QKV projection is
// column-parallel (each rank computes its nh/tp heads of q, k and v), the attention core runs on
// local heads only, and the output projection is row-parallel.
//
//   x [n_local, h] -> c_attn -> qkv [N, 3, nh/tp, hd] -> core -> a [N, nh/tp·hd] -> c_proj -> y [n_local, h]
//
// The core is fused (flash-style) attention on every device: it keeps only the softmax statistics
// (attention_saved_shape: the row log-sum-exp, [B, nh/tp, S, 1] f32) and never an S x S tensor.
// Under selective recompute the core's output `a` (also c_proj's saved input) and the statistics are
// dropped after forward and rebuilt at the start of backward_input by rerunning the core on the
// kept qkv: [N, h/tp] + [B, nh/tp, S] less per layer, for one more forward of the core.
#pragma once

#include "layers/column_parallel_linear.h"
#include "layers/gpt_config.h"
#include "layers/row_parallel_linear.h"

namespace trident {

class ParallelAttention {
 public:
  struct Saved {
    ColumnParallelLinear::Saved c_attn;
    Tensor qkv;    // [N, 3·h/tp]
    Tensor stats;  // attention_saved_shape(B, nh/tp, S); empty under selective recompute until backward
    Tensor out;    // [N, h/tp]: the core's output (also c_proj's saved input); selective: as stats
    RowParallelLinear::Saved c_proj;
    template <typename F> void for_each(F&& f) const {
      c_attn.for_each(f), f(qkv), f(stats), f(out), c_proj.for_each(f);
    }
  };

  ParallelAttention(const std::string& prefix, const GptConfig& config, const TensorParallel& tp, Device device);

  // x [n_local, h] -> y [n_local, h]
  Tensor forward(const Tensor& x, Saved& s) const;
  // Generation (kv_cache.h): x [B·T, h] holds T new tokens per sequence at positions [past,
  // past + T); their keys and values join k_cache / v_cache [B, nh/tp, C, hd] -> y [B·T, h].
  Tensor forward_cached(const Tensor& x, std::int64_t batch, std::int64_t past, const Tensor& k_cache,
                        const Tensor& v_cache) const;
  Tensor backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);

  std::int64_t local_heads() const { return local_heads_; }
  // Forward FLOPs on this rank for a micro-batch of `batch` sequences: the two projections plus
  // q·kᵀ and p·v counted in full (2·2·B·S²·h/tp), the convention of GptConfig::flops_per_step.
  double flops_forward(std::int64_t batch) const;

  void collect(ParameterList& out) { c_attn.collect(out); c_proj.collect(out); }
  ColumnParallelLinear c_attn;
  RowParallelLinear c_proj;

 private:
  Tensor qkv_view(const Tensor& t) const;
  Tensor out_view(const Tensor& t) const;
  // Runs the core on s.qkv into fresh s.out and s.stats.
  void run_core(Saved& s) const;
  const TensorParallel& tp_;
  std::int64_t seq_len_, local_heads_;
};

}  // namespace trident
