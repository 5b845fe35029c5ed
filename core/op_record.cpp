// The recording op table: for every Ops entry, describe the call (OpRecord), hand it to the sink,
// then run it on the wrapped table (real devices) or not at all (meta devices).
#include "core/op_record.h"

#include <sstream>
#include <vector>

#include "core/fused_attention.h"
#include "core/gemm_checks.h"

namespace trident {

std::string_view op_kind_name(OpKind kind) {
  static constexpr std::string_view kNames[kNumOpKinds] = {
      "fill", "copy", "convert", "gemm", "gemm_strided_batched", "add", "axpy", "scale", "sum", "sum_squares",
      "bias_add", "bias_backward", "gelu_forward", "gelu_backward", "bias_gelu_forward", "layernorm_forward",
      "layernorm_backward_input", "layernorm_backward_weight", "add_layernorm_forward",
      "layernorm_backward_input_add", "attention_forward", "attention_backward", "attention_cached", "embedding_forward",
      "embedding_backward", "cross_entropy_row_max", "cross_entropy_sums", "cross_entropy_losses",
      "cross_entropy_backward", "cross_entropy_fused", "adamw_update"};
  return kNames[static_cast<int>(kind)];
}

std::string OpRecord::str() const {
  std::ostringstream os;
  os << op_kind_name(kind);
  if (is_gemm()) os << ' ' << (trans_a ? 'T' : 'N') << (trans_b ? 'T' : 'N');
  os << ' ' << shape.str() << ' ' << dtype_name(dtype);
  return os.str();
}

namespace {

double nb(const Tensor& t) { return static_cast<double>(t.nbytes()); }
double n(const Tensor& t) { return static_cast<double>(t.numel()); }

OpRecord make(OpKind kind, const Tensor& main, double flops, double bytes) {
  OpRecord r;
  r.kind = kind;
  r.dtype = main.dtype();
  r.shape = main.shape();
  r.flops = flops;
  r.bytes = bytes;
  return r;
}

// Forwards to `inner_` (null on a meta device) after recording into `sink_` (null: no recording).
class RecordingOps final : public Ops {
 public:
  RecordingOps(Device device, const Ops* inner, OpSink* sink) : device_(device), inner_(inner), sink_(sink) {}

  Device device() const override { return device_; }
  void synchronize() const override {
    if (inner_) inner_->synchronize();
  }

  void fill(const Tensor& x, float value) const override {
    const Finish done = note(make(OpKind::kFill, x, 0, nb(x)));
    if (inner_) inner_->fill(x, value);
  }
  void copy(const Tensor& src, const Tensor& dst) const override {
    const Finish done = note(make(OpKind::kCopy, src, 0, nb(src) + nb(dst)));
    if (inner_) inner_->copy(src, dst);
  }
  void convert(const Tensor& src, const Tensor& dst) const override {
    const Finish done = note(make(OpKind::kConvert, src, 0, nb(src) + nb(dst)));
    if (inner_) inner_->convert(src, dst);
  }

  void gemm(bool ta, bool tb, float alpha, const Tensor& a, const Tensor& b, float beta,
            const Tensor& c) const override {
    const GemmMatrices g = check_gemm(ta, tb, a, b, c);
    OpRecord r = make(OpKind::kGemm, a, 2.0 * g.m * g.n * g.k, nb(a) + nb(b) + nb(c) * (beta != 0.0f ? 2 : 1));
    r.shape = Shape{1, g.m, g.n, g.k};
    r.trans_a = ta;
    r.trans_b = tb;
    const Finish done = note(r);
    if (inner_) inner_->gemm(ta, tb, alpha, a, b, beta, c);
  }
  void gemm_strided_batched(bool ta, bool tb, const GemmBatch& s, float alpha, const Tensor& a, const Tensor& b,
                            float beta, const Tensor& c) const override {
    const double e = static_cast<double>(dtype_size(a.dtype())), ec = static_cast<double>(dtype_size(c.dtype()));
    const double mats = static_cast<double>(s.batch);
    OpRecord r = make(OpKind::kGemmBatched, a, 2.0 * mats * s.m * s.n * s.k,
                      mats * (e * static_cast<double>(s.m * s.k + s.k * s.n) + ec * s.m * s.n * (beta != 0.0f ? 2 : 1)));
    r.shape = Shape{s.batch, s.m, s.n, s.k};
    r.trans_a = ta;
    r.trans_b = tb;
    const Finish done = note(r);
    if (inner_) inner_->gemm_strided_batched(ta, tb, s, alpha, a, b, beta, c);
  }

  void add(const Tensor& a, const Tensor& b, const Tensor& out) const override {
    const Finish done = note(make(OpKind::kAdd, a, n(a), nb(a) + nb(b) + nb(out)));
    if (inner_) inner_->add(a, b, out);
  }
  void axpy(float alpha, const Tensor& x, const Tensor& y) const override {
    const Finish done = note(make(OpKind::kAxpy, x, 2 * n(x), nb(x) + 2 * nb(y)));
    if (inner_) inner_->axpy(alpha, x, y);
  }
  void scale(const Tensor& x, float alpha) const override {
    const Finish done = note(make(OpKind::kScale, x, n(x), 2 * nb(x)));
    if (inner_) inner_->scale(x, alpha);
  }
  double sum(const Tensor& x) const override {
    const Finish done = note(make(OpKind::kSum, x, n(x), nb(x)));
    return inner_ ? inner_->sum(x) : 0.0;
  }
  double sum_squares(const Tensor& x) const override {
    const Finish done = note(make(OpKind::kSumSquares, x, 2 * n(x), nb(x)));
    return inner_ ? inner_->sum_squares(x) : 0.0;
  }
  void bias_add(const Tensor& x, const Tensor& bias) const override {
    const Finish done = note(make(OpKind::kBiasAdd, x, n(x), 2 * nb(x) + nb(bias)));
    if (inner_) inner_->bias_add(x, bias);
  }
  void bias_backward(const Tensor& dout, const Tensor& dbias) const override {
    const Finish done = note(make(OpKind::kBiasBackward, dout, n(dout), nb(dout) + 2 * nb(dbias)));
    if (inner_) inner_->bias_backward(dout, dbias);
  }
  void gelu_forward(const Tensor& x, const Tensor& out) const override {
    const Finish done = note(make(OpKind::kGeluForward, x, 8 * n(x), nb(x) + nb(out)));
    if (inner_) inner_->gelu_forward(x, out);
  }
  void gelu_backward(const Tensor& dout, const Tensor& x, const Tensor& dx) const override {
    const Finish done = note(make(OpKind::kGeluBackward, x, 12 * n(x), nb(dout) + nb(x) + nb(dx)));
    if (inner_) inner_->gelu_backward(dout, x, dx);
  }
  void bias_gelu_forward(const Tensor& x, const Tensor& bias, const Tensor& out) const override {
    // Reads x, writes x (+ bias) and out.
    const Finish done = note(make(OpKind::kBiasGeluForward, x, 9 * n(x), 2 * nb(x) + nb(bias) + nb(out)));
    if (inner_) inner_->bias_gelu_forward(x, bias, out);
  }

  void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, float eps, const Tensor& out,
                         const Tensor& mean, const Tensor& rstd) const override {
    const Finish done = note(make(OpKind::kLayerNormForward, x, 8 * n(x), nb(x) + nb(w) + nb(b) + nb(out) + nb(mean) + nb(rstd)));
    if (inner_) inner_->layernorm_forward(x, w, b, eps, out, mean, rstd);
  }
  void layernorm_backward_input(const Tensor& dout, const Tensor& x, const Tensor& w, const Tensor& mean,
                                const Tensor& rstd, const Tensor& dx) const override {
    const Finish done = note(make(OpKind::kLayerNormBackwardInput, x, 10 * n(x),
              nb(dout) + nb(x) + nb(w) + nb(mean) + nb(rstd) + nb(dx)));
    if (inner_) inner_->layernorm_backward_input(dout, x, w, mean, rstd, dx);
  }
  void layernorm_backward_weight(const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                 const Tensor& dw, const Tensor& db) const override {
    const Finish done = note(make(OpKind::kLayerNormBackwardWeight, x, 6 * n(x),
              nb(dout) + nb(x) + nb(mean) + nb(rstd) + 2 * (nb(dw) + nb(db))));
    if (inner_) inner_->layernorm_backward_weight(dout, x, mean, rstd, dw, db);
  }
  void add_layernorm_forward(const Tensor& a, const Tensor& b, const Tensor& sum, const Tensor& w, const Tensor& bias,
                             float eps, const Tensor& out, const Tensor& mean, const Tensor& rstd) const override {
    const Finish done = note(make(OpKind::kAddLayerNormForward, sum, 9 * n(sum),
              nb(a) + nb(b) + nb(sum) + nb(w) + nb(bias) + nb(out) + nb(mean) + nb(rstd)));
    if (inner_) inner_->add_layernorm_forward(a, b, sum, w, bias, eps, out, mean, rstd);
  }
  void layernorm_backward_input_add(const Tensor& dout, const Tensor& x, const Tensor& w, const Tensor& mean,
                                    const Tensor& rstd, const Tensor& dresidual, const Tensor& dx) const override {
    const Finish done = note(make(OpKind::kLayerNormBackwardInputAdd, x, 11 * n(x),
              nb(dout) + nb(x) + nb(w) + nb(mean) + nb(rstd) + nb(dresidual) + nb(dx)));
    if (inner_) inner_->layernorm_backward_input_add(dout, x, w, mean, rstd, dresidual, dx);
  }

  Shape attention_saved_shape(std::int64_t batch, std::int64_t heads, std::int64_t seq) const override {
    if (inner_) return inner_->attention_saved_shape(batch, heads, seq);
    // Meta: what the modelled device's table allocates (fused attention keeps softmax statistics).
    if (device_.modelled() == DeviceType::kCUDA) return fused_attention_saved_shape(batch, heads, seq);
    return ops_for(Device::cpu()).attention_saved_shape(batch, heads, seq);
  }
  void attention_forward(const Tensor& qkv, std::int64_t heads, const Tensor& out,
                         const Tensor& saved) const override {
    // qkv [B, S, 3, nh, hd]: q·kᵀ and p·v, 2·B·nh·S²·hd FLOPs each.
    const Finish done = note(make(OpKind::kAttentionForward, qkv, 4.0 * attention_core(qkv, out), nb(qkv) + nb(out) + nb(saved)));
    if (inner_) inner_->attention_forward(qkv, heads, out, saved);
  }
  void attention_backward(const Tensor& dout, const Tensor& qkv, const Tensor& out, const Tensor& saved,
                          std::int64_t heads, const Tensor& dqkv) const override {
    // dV = pᵀ·dO, dP = dO·vᵀ, dQ = dS·k, dK = dSᵀ·q: four GEMMs of the forward's size.
    const Finish done = note(make(OpKind::kAttentionBackward, qkv, 8.0 * attention_core(qkv, out),
              nb(dout) + nb(qkv) + nb(out) + nb(saved) + nb(dqkv)));
    if (inner_) inner_->attention_backward(dout, qkv, out, saved, heads, dqkv);
  }
  void attention_cached(const Tensor& qkv, std::int64_t heads, std::int64_t past, const Tensor& k_cache,
                        const Tensor& v_cache, const Tensor& out) const override {
    // T new queries against past + T keys (counted in full): 4·B·nh·T·(past + T)·hd FLOPs; the
    // caches' rows [0, past + T) are read and the new rows written.
    const double keys = static_cast<double>(past + qkv.dim(1));
    const double cache_rows = 2.0 * static_cast<double>(qkv.dim(0)) * static_cast<double>(heads) * keys *
                              static_cast<double>(k_cache.dim(-1)) * static_cast<double>(dtype_size(k_cache.dtype()));
    const Finish done = note(make(OpKind::kAttentionCached, qkv, 4.0 * n(out) * keys, nb(qkv) + nb(out) + cache_rows));
    if (inner_) inner_->attention_cached(qkv, heads, past, k_cache, v_cache, out);
  }

  void embedding_forward(const Tensor& ids, const Tensor& table, std::int64_t row_begin,
                         const Tensor& out) const override {
    const Finish done = note(make(OpKind::kEmbeddingForward, out, 0, nb(ids) + 2 * nb(out)));
    if (inner_) inner_->embedding_forward(ids, table, row_begin, out);
  }
  void embedding_backward(const Tensor& dout, const Tensor& ids, std::int64_t row_begin,
                          const Tensor& dtable) const override {
    const Finish done = note(make(OpKind::kEmbeddingBackward, dout, n(dout), nb(ids) + 3 * nb(dout)));
    if (inner_) inner_->embedding_backward(dout, ids, row_begin, dtable);
  }

  void cross_entropy_row_max(const Tensor& logits, const VocabShard& shard, const Tensor& row_max) const override {
    const Finish done = note(make(OpKind::kCrossEntropyRowMax, logits, n(logits), nb(logits) + nb(row_max)));
    if (inner_) inner_->cross_entropy_row_max(logits, shard, row_max);
  }
  void cross_entropy_sums(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                          const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit) const override {
    const Finish done = note(make(OpKind::kCrossEntropySums, logits, 3 * n(logits),
              nb(logits) + nb(targets) + nb(row_max) + nb(sum_exp) + nb(target_logit)));
    if (inner_) inner_->cross_entropy_sums(logits, targets, shard, row_max, sum_exp, target_logit);
  }
  void cross_entropy_losses(const Tensor& row_max, const Tensor& sum_exp, const Tensor& target_logit,
                            const Tensor& losses) const override {
    const Finish done = note(make(OpKind::kCrossEntropyLosses, losses, 3 * n(losses),
              nb(row_max) + nb(sum_exp) + nb(target_logit) + nb(losses)));
    if (inner_) inner_->cross_entropy_losses(row_max, sum_exp, target_logit, losses);
  }
  void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const VocabShard& shard,
                              const Tensor& row_max, const Tensor& sum_exp, float dloss,
                              const Tensor& dlogits) const override {
    const Finish done = note(make(OpKind::kCrossEntropyBackward, logits, 4 * n(logits),
              nb(logits) + nb(targets) + nb(row_max) + nb(sum_exp) + nb(dlogits)));
    if (inner_) inner_->cross_entropy_backward(logits, targets, shard, row_max, sum_exp, dloss, dlogits);
  }
  void cross_entropy_fused(const Tensor& logits, const Tensor& targets, const VocabShard& shard, float dloss,
                           const Tensor& losses) const override {
    // Reads the logits once, writes the gradient over them: max, exp, sum, scale per element.
    const Finish done = note(make(OpKind::kCrossEntropyFused, logits, 6 * n(logits), 2 * nb(logits) + nb(targets) + nb(losses)));
    if (inner_) inner_->cross_entropy_fused(logits, targets, shard, dloss, losses);
  }

  void adamw_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                    const AdamWParams& p) const override {
    // Reads param, grad, m, v; writes param, m, v.
    const Finish done = note(make(OpKind::kAdamwUpdate, param, 14 * n(param), 2 * nb(param) + nb(grad) + 2 * nb(m) + 2 * nb(v)));
    if (inner_) inner_->adamw_update(param, grad, m, v, p);
  }

 private:
  // B·nh·S²·hd for qkv [B, S, 3, nh, hd] and out [B, S, nh, hd] (= out's elements × S): the
  // multiply-adds of one S×S GEMM over every head.
  static double attention_core(const Tensor& qkv, const Tensor& out) { return n(out) * static_cast<double>(qkv.dim(1)); }
  // Tells the sink the op ran when it goes out of scope (after the wrapped table's call returns).
  class Finish {
   public:
    explicit Finish(OpSink* sink) : sink_(sink) {}
    ~Finish() {
      if (sink_) sink_->finished();
    }
    Finish(const Finish&) = delete;
    Finish& operator=(const Finish&) = delete;

   private:
    OpSink* sink_;
  };
  [[nodiscard]] Finish note(const OpRecord& r) const {
    if (sink_) sink_->record(r);
    return Finish(sink_);
  }

  Device device_;
  const Ops* inner_;
  OpSink* sink_;
};

// This thread's active scopes, innermost last.
struct ActiveScope {
  Device device;
  const RecordingOps* ops;
};
thread_local std::vector<ActiveScope> tl_scopes;

}  // namespace

struct ScopedOpRecording::Impl {
  RecordingOps ops;
};

ScopedOpRecording::ScopedOpRecording(Device device, OpSink& sink)
    : impl_(new Impl{RecordingOps(device, device.is_meta() ? nullptr : &ops_for(device), &sink)}) {
  tl_scopes.push_back({device, &impl_->ops});
}

ScopedOpRecording::~ScopedOpRecording() {
  // Scopes are objects with automatic storage, so they end in reverse order of their start.
  tl_scopes.pop_back();
  delete impl_;
}

namespace detail {

const Ops* recording_ops(Device device) {
  for (auto it = tl_scopes.rbegin(); it != tl_scopes.rend(); ++it)
    if (it->device == device) return it->ops;
  return nullptr;
}

const Ops& meta_ops(Device device) {
  static const RecordingOps cpu_like(Device::meta(DeviceType::kCPU), nullptr, nullptr);
  static const RecordingOps cuda_like(Device::meta(DeviceType::kCUDA), nullptr, nullptr);
  return device.modelled() == DeviceType::kCUDA ? cuda_like : cpu_like;
}

}  // namespace detail

}  // namespace trident
