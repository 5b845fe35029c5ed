#include "layers/gpt_chunk.h"

#include <set>

#include "core/ops.h"

namespace trident {

struct GptChunk::MicroBatch {
  VocabParallelEmbedding::Saved embedding;
  std::vector<TransformerBlock::Saved> blocks;
  LayerNorm::Saved ln_f;
  VocabParallelHead::Saved head;
  double loss = 0.0;
  bool backward_input_done = false;
};

GptChunk::GptChunk(const GptConfig& config, const ChunkLayout& layout, Communicator* tp_group,
                   TensorParallelOptions options, Device device)
    : config_(config), layout_(layout), tp_(std::make_unique<TensorParallel>(tp_group, options)) {
  config_.validate();
  TRIDENT_CHECK(layout.first_layer >= 0 && layout.num_layers >= 0 &&
                    layout.first_layer + layout.num_layers <= config.layers,
                "chunk layers [", layout.first_layer, ", ", layout.first_layer + layout.num_layers,
                ") are outside the model's ", config.layers, " layers");
  if (layout.has_embedding) embedding_.emplace(config_, *tp_, device);
  for (std::int64_t i = 0; i < layout.num_layers; ++i)
    blocks_.push_back(std::make_unique<TransformerBlock>(static_cast<int>(layout.first_layer + i), config_, *tp_, device));
  if (layout.has_head) {
    ln_f_.emplace("ln_f", config_.hidden, config_.ln_eps, *tp_, device);
    Parameter* wte = nullptr;
    if (embedding_) {
      wte = &embedding_->wte;
    } else {
      head_wte_.emplace(make_wte(config_, *tp_, device));
      wte = &*head_wte_;
    }
    head_.emplace(config_, *tp_, *wte);
  }
  for (Parameter* p : parameters()) p->initialize(config_.seed);
}

GptChunk::~GptChunk() { label_compute_copies(0); }

void GptChunk::label_compute_copies(std::int64_t bytes) {
  // The GEMMs' low-precision copies are weights in the peak-memory breakdown (core/allocator.h).
  if (bytes == copies_labelled_) return;
  allocator_for(copies_device_).label(MemoryKind::kWeights, bytes - copies_labelled_);
  copies_labelled_ = bytes;
}

GptChunk::MicroBatch& GptChunk::state(int mb, const char* what) {
  auto it = stash_.find(mb);
  TRIDENT_CHECK(it != stash_.end(), what, " of micro-batch ", mb, " before its forward (or after its backward_weight)");
  return *it->second;
}

Tensor GptChunk::forward(int mb, const Tensor& input, const Tensor& targets, float loss_scale) {
  TRIDENT_CHECK(stash_.find(mb) == stash_.end(), "forward of micro-batch ", mb, " twice before its backward");
  auto owned = std::make_unique<MicroBatch>();
  MicroBatch& m = *owned;
  m.blocks.resize(blocks_.size());
  Tensor x = embedding_ ? Tensor() : input.as_2d();
  if (embedding_) {
    before_use(ParamUse::kForward, layer_params(kEmbedding));
    x = embedding_->forward(input, m.embedding);
  }
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    before_use(ParamUse::kForward, layer_params(static_cast<int>(i)));
    x = blocks_[i]->forward(x, m.blocks[i]);
  }
  if (head_) {
    TRIDENT_CHECK(targets.defined(), "the last chunk's forward needs the targets of micro-batch ", mb);
    before_use(ParamUse::kForward, layer_params(kHead));
    m.loss = head_->forward(ln_f_->forward(x, m.ln_f), targets, loss_scale, m.head);
    x = Tensor();
  }
  end_pass();
  stash_.emplace(mb, std::move(owned));
  return x;
}

Tensor GptChunk::backward_input(int mb, const Tensor& dy) {
  MicroBatch& m = state(mb, "backward_input");
  TRIDENT_CHECK(!m.backward_input_done, "backward_input of micro-batch ", mb, " twice");
  Tensor d = head_ ? Tensor() : dy.as_2d();  // the head chunk starts from its own loss (dy undefined)
  if (head_) {
    before_use(ParamUse::kBackward, layer_params(kHead));
    d = ln_f_->backward_input(head_->backward_input(m.head), m.ln_f);
  }
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    before_use(ParamUse::kBackward, layer_params(static_cast<int>(i)));
    d = blocks_[i]->backward_input(d, m.blocks[i]);
  }
  end_pass();  // the embedding's backward reads no weights
  m.backward_input_done = true;
  if (embedding_) {
    embedding_->backward_input(d, m.embedding);
    return Tensor();
  }
  return d;
}

void GptChunk::backward_weight(int mb) {
  MicroBatch& m = state(mb, "backward_weight");
  TRIDENT_CHECK(m.backward_input_done, "backward_weight of micro-batch ", mb, " before its backward_input");
  // The hook sees each layer's parameters as soon as their gradients hold this micro-batch. The
  // head's W adds into wte too; the tied wte is reported once, after the embedding's W (the last).
  ParameterList done;
  auto report = [&] {
    if (grad_hook_)
      for (Parameter* p : done) grad_hook_(*p);
    done.clear();
  };
  if (head_) {
    before_use(ParamUse::kAccumulate, layer_params(kHead));
    head_->backward_weight(m.head);
    if (head_wte_) done.push_back(&*head_wte_);
    ln_f_->backward_weight(m.ln_f);
    ln_f_->collect(done);
    report();
  }
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    before_use(ParamUse::kAccumulate, layer_params(static_cast<int>(i)));
    blocks_[i]->backward_weight(m.blocks[i]);
    blocks_[i]->collect(done);
    report();
  }
  if (embedding_) {
    before_use(ParamUse::kAccumulate, layer_params(kEmbedding));
    embedding_->backward_weight(m.embedding);
    embedding_->collect(done);
    report();
  }
  stash_.erase(mb);
}

Tensor GptChunk::backward(int mb, const Tensor& dy) {
  Tensor dx = backward_input(mb, dy);
  backward_weight(mb);
  return dx;
}

void GptChunk::release(int mb) { stash_.erase(mb); }

double GptChunk::loss(int mb) const {
  TRIDENT_CHECK(head_.has_value(), "loss() is only defined on the last chunk");
  auto it = stash_.find(mb);
  TRIDENT_CHECK(it != stash_.end(), "loss of micro-batch ", mb, " is not available (no forward, or freed)");
  return it->second->loss;
}

ParameterList GptChunk::layer_params(int layer) {
  ParameterList out;
  if (layer == kEmbedding) {
    embedding_->collect(out);
  } else if (layer == kHead) {
    ln_f_->collect(out);
    out.push_back(&head_wte());
  } else {
    blocks_[static_cast<std::size_t>(layer)]->collect(out);
  }
  return out;
}

ParameterList GptChunk::parameters() {
  ParameterList out;
  if (embedding_) embedding_->collect(out);
  for (auto& b : blocks_) b->collect(out);
  if (head_) {
    ln_f_->collect(out);
    if (head_wte_) out.push_back(&*head_wte_);
  }
  return out;
}

void GptChunk::set_compute_dtype(DType dtype) {
  TRIDENT_CHECK(dtype == DType::kF32 || dtype == DType::kBF16, "compute dtype ", dtype_name(dtype),
                " is not supported: use f32 or bf16");
  compute_dtype_ = dtype;
  std::int64_t copies = 0;
  for (Parameter* p : parameters())
    if (p->value.ndim() == 2 && p->name() != "wpe.weight") {
      p->set_compute_dtype(dtype);
      copies_device_ = p->value.device();
      if (dtype != p->value.dtype()) copies += p->value.numel() * static_cast<std::int64_t>(dtype_size(dtype));
    }
  label_compute_copies(copies);
}

void GptChunk::refresh_compute_copies() {
  for (Parameter* p : parameters()) p->refresh_compute_copy();
}

Parameter* GptChunk::find(const std::string& name) {
  for (Parameter* p : parameters())
    if (p->name() == name) return p;
  return nullptr;
}

void GptChunk::zero_grads() {
  for (Parameter* p : parameters()) ops_for(p->grad.device()).fill(p->grad, 0.0f);
}

double GptChunk::flops_forward(std::int64_t batch) const {
  double f = 0.0;
  for (const auto& b : blocks_) f += b->flops_forward(batch);
  if (head_) f += head_->flops_forward(batch * config_.seq_len);
  return f;
}

std::int64_t GptChunk::stashed_bytes(int mb) const {
  auto it = stash_.find(mb);
  if (it == stash_.end()) return 0;
  // Activations are shared between layers (a layer's output is the next one's saved input), so
  // bytes are counted per storage, not per handle. Token ids and targets belong to the caller.
  const MicroBatch& m = *it->second;
  std::set<const void*> seen{m.embedding.ids.storage_id(), m.head.targets.storage_id()};
  std::int64_t bytes = 0;
  auto count = [&](const Tensor& t) {
    if (t.defined() && seen.insert(t.storage_id()).second) bytes += static_cast<std::int64_t>(t.storage_bytes());
  };
  m.embedding.for_each(count);
  for (const auto& b : m.blocks) b.for_each(count);
  m.ln_f.for_each(count);
  m.head.for_each(count);
  return bytes;
}

}  // namespace trident
