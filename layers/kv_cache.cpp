// The inference forwards of the layers with a KV cache (kv_cache.h). Each reuses its layer's
// training-forward pieces (linears, LayerNorms, the MLP) with a throwaway Saved: the same ops on
// the same weights, so the logits match a training forward's up to the attention's summation order.
#include "layers/kv_cache.h"

#include <algorithm>

#include "core/ops.h"
#include "layers/gpt_chunk.h"

namespace trident {

Tensor VocabParallelEmbedding::forward_at(const Tensor& ids, std::int64_t first) const {
  const Ops& ops = ops_for(wte.value.device());
  TRIDENT_CHECK(ids.dtype() == DType::kI32 && ids.ndim() == 2, "embedding: token ids ", ids.shape().str(), " ",
                dtype_name(ids.dtype()), " should be i32 [batch, tokens]");
  const std::int64_t batch = ids.dim(0), tokens = ids.dim(1), h = wte.value.dim(1);
  TRIDENT_CHECK(first >= 0 && first + tokens <= seq_len_, "embedding: positions [", first, ", ", first + tokens,
                ") run past the model's ", seq_len_, " positions (model.seq_len)");
  Tensor partial = Tensor::empty({batch * tokens, h}, wte.for_compute().dtype(), wte.value.device());
  ops.embedding_forward(ids.view({batch * tokens}), wte.value, vocab_begin(), partial);
  if (tp_.rank() == 0)
    ops.bias_add(partial.view({batch, tokens * h}), wpe.value.slice0(first, first + tokens).view({tokens * h}));
  return tp_.leave_region(partial);
}

Tensor ParallelAttention::forward_cached(const Tensor& x, std::int64_t batch, std::int64_t past, const Tensor& k_cache,
                                         const Tensor& v_cache) const {
  Saved s;
  const Tensor qkv = c_attn.forward(x, s.c_attn);  // [B·T, 3·h/tp]
  const std::int64_t tokens = qkv.dim(0) / batch, hd = qkv.dim(1) / (3 * local_heads_);
  Tensor out = Tensor::empty({qkv.dim(0), qkv.dim(1) / 3}, qkv.dtype(), qkv.device());
  ops_for(x.device())
      .attention_cached(qkv.view({batch, tokens, 3, local_heads_, hd}), local_heads_, past, k_cache, v_cache,
                        out.view({batch, tokens, local_heads_, hd}));
  return c_proj.forward(out, s.c_proj);
}

Tensor TransformerBlock::forward_cached(const Tensor& x, std::int64_t batch, std::int64_t past, const Tensor& k_cache,
                                        const Tensor& v_cache) const {
  Saved s;
  Tensor x1;  // x + attn(ln_1(x)), then ln_2 of it in one pass, as in the training forward
  const Tensor h2 = ln_2.forward_add(attn.forward_cached(ln_1.forward(x, s.ln_1), batch, past, k_cache, v_cache), x,
                                     x1, s.ln_2);
  Tensor x2 = mlp.forward(h2, s.mlp);
  ops_for(x.device()).add(x2, x1, x2);
  return x2;
}

Tensor VocabParallelHead::full_logits(const Tensor& x) const {
  const Ops& ops = ops_for(x.device());
  const std::int64_t rows = x.dim(0), local = wte_.value.dim(0);
  Tensor logits = Tensor::empty({rows, local}, x.dtype(), x.device());
  ops.gemm(false, true, 1.0f, x, wte_.for_compute(), 0.0f, logits);  // [n, Vp/tp]
  if (logits.dtype() != DType::kF32) {
    Tensor f32 = Tensor::empty(logits.shape(), DType::kF32, x.device());
    ops.convert(logits, f32);
    logits = f32;
  }
  Tensor gathered = logits;  // tp = 1: already every column
  if (tp_.size() > 1) {
    gathered = Tensor::empty({tp_.size() * rows * local}, DType::kF32, x.device());
    tp_.group()->all_gather(logits.view({rows * local}), gathered);
  }
  const Tensor host = gathered.to(Device::cpu());
  // Rank r's block is [rows, local] for vocabulary ids [r·local, (r+1)·local); ids >= V are padding.
  Tensor out = Tensor::empty({rows, vocab_});
  for (int r = 0; r < tp_.size(); ++r) {
    const std::int64_t begin = r * local, valid = std::max<std::int64_t>(0, std::min(local, vocab_ - begin));
    for (std::int64_t i = 0; i < rows; ++i)
      std::copy_n(host.data<float>() + (r * rows + i) * local, valid, out.data<float>() + i * vocab_ + begin);
  }
  return out;
}

KvCache GptChunk::make_kv_cache(std::int64_t batch) {
  TRIDENT_CHECK(!tp_->sequence_parallel(), "generation runs without sequence parallelism; build the chunk without it");
  KvCache cache;
  cache.batch = batch;
  cache.capacity = config_.seq_len;
  const ParameterList params = parameters();  // empty only for a chunk of no blocks, which caches nothing
  const Device device = params.empty() ? Device::cpu() : params.front()->value.device();
  for (const auto& b : blocks_) {
    const Shape shape{batch, b->attn.local_heads(), config_.seq_len, config_.head_dim()};
    cache.layers.push_back({Tensor::empty(shape, compute_dtype_, device), Tensor::empty(shape, compute_dtype_, device)});
  }
  return cache;
}

Tensor GptChunk::forward_cached(const Tensor& input, KvCache& cache) {
  const std::int64_t batch = cache.batch, past = cache.length;
  Tensor x = embedding_ ? embedding_->forward_at(input, past) : input.as_2d();
  const std::int64_t tokens = x.dim(0) / batch;
  TRIDENT_CHECK(tokens >= 1 && tokens * batch == x.dim(0) && past + tokens <= cache.capacity, "generation: ", tokens,
                " more token(s) after ", past, " do not fit the model's context of ", cache.capacity,
                " tokens (model.seq_len)");
  for (std::size_t i = 0; i < blocks_.size(); ++i)
    x = blocks_[i]->forward_cached(x, batch, past, cache.layers[i].k, cache.layers[i].v);
  cache.length = past + tokens;
  if (!head_) return x;
  // Only each sequence's last token is sampled from: its row, then the final LayerNorm and logits.
  Tensor last = x;
  if (tokens > 1) {
    last = Tensor::empty({batch, x.dim(1)}, x.dtype(), x.device());
    for (std::int64_t b = 0; b < batch; ++b)
      last.slice0(b, b + 1).copy_from(x.slice0((b + 1) * tokens - 1, (b + 1) * tokens));
  }
  LayerNorm::Saved s;
  return head_->full_logits(ln_f_->forward(last, s));
}

}  // namespace trident
