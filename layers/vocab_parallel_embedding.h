// Token and position embeddings in the first chunk. The token table wte [Vp, h] is split
// by vocabulary rows over TP (Vp = V padded to a multiple of tp; padding rows are zero and never
// looked up): each rank looks up the ids it holds and writes zeros for the rest, and leaving the
// TP region sums the partial lookups. The position table wpe [S, h] is replicated; TP rank 0 adds
// it before the reduction so it is counted once.
//
// Forward:  ids [B, S] -> partial [N, h] (+ wpe on TP rank 0) --leave_region--> [n_local, h]
// Backward: dy [n_local, h] --leave_region_backward--> dy [N, h]  (backward_input: communication)
//           dwte_r += scatter-add of dy rows; dwpe += Σ_batch dy  (backward_weight: math only;
//           every TP rank sees the full dy, so dwpe is complete on each)
#pragma once

#include "layers/gpt_config.h"
#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

// The vocabulary padded to a multiple of tp (so the table splits evenly).
std::int64_t padded_vocab(std::int64_t vocab, int tp);

class VocabParallelEmbedding {
 public:
  struct Saved {
    Tensor ids;  // [B, S] i32
    Tensor dy;   // [N, h]: full output gradient, from backward_input
    template <typename F> void for_each(F&& f) const { f(ids), f(dy); }
  };

  VocabParallelEmbedding(const GptConfig& config, const TensorParallel& tp, Device device);

  Tensor forward(const Tensor& ids, Saved& s) const;  // ids [B, S] -> [n_local, h]
  // Generation (kv_cache.h; no SP, nothing saved): ids [B, T] at positions [first, first + T)
  // -> [B·T, h], replicated over TP.
  Tensor forward_at(const Tensor& ids, std::int64_t first_position) const;
  void backward_input(const Tensor& dy, Saved& s) const;
  void backward_weight(Saved& s);

  std::int64_t vocab_begin() const;  // first vocab id of this rank's rows

  void collect(ParameterList& out) { out.push_back(&wte); out.push_back(&wpe); }
  Parameter wte, wpe;

 private:
  const TensorParallel& tp_;
  std::int64_t seq_len_;
};

// The wte table as the output layer uses it (tied weights) — also in a last chunk that
// holds no embedding, where it is a separate copy kept equal through the embedding group.
Parameter make_wte(const GptConfig& config, const TensorParallel& tp, Device device);

}  // namespace trident
