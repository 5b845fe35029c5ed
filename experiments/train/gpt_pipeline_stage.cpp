#include "experiments/train/gpt_pipeline_stage.h"

#include <algorithm>
#include <numeric>

#include "core/ops.h"

namespace trident {

GptPipelineStage::GptPipelineStage(const GptConfig& config, const Schedule& schedule, int stage,
                                   Communicator* tp_group, TensorParallelOptions options,
                                   const std::vector<std::int64_t>& layers_per_chunk, Device device,
                                   DType compute_dtype)
    : config_(config),
      schedule_(schedule),
      stage_(stage),
      device_(device),
      compute_dtype_(compute_dtype),
      chunks_(schedule.chunks_of(stage)) {
  const int total = schedule.num_chunks();
  const auto counts = split_layers(config.layers, total, layers_per_chunk);
  std::int64_t first = 0;
  for (int c = 0; c < total; ++c) {
    const std::int64_t n = counts[static_cast<std::size_t>(c)];
    if (schedule.stage_of(c) == stage) {
      const ChunkLayout layout{first, n, c == 0, c == total - 1};
      auto model = std::make_unique<GptChunk>(config, layout, tp_group, options, device);
      model->set_compute_dtype(compute_dtype);
      models_.emplace(c, std::move(model));
    }
    first += n;
  }
}

void GptPipelineStage::set_batch(const Tensor& ids, const Tensor& targets, int micro_batches) {
  micro_batches_ = micro_batches > 0 ? micro_batches : schedule_.micro_batches;
  TRIDENT_CHECK(ids.ndim() == 2 && ids.dim(0) % micro_batches_ == 0 && targets.shape() == ids.shape(), "a step's batch ",
                ids.shape().str(), " must be [micro_batches x micro_batch_size, seq_len] with micro_batches=",
                micro_batches_, ", and targets of the same shape");
  ids_ = ids.to(device_);
  targets_ = targets.to(device_);
  micro_batch_size_ = ids.dim(0) / micro_batches_;
  losses_.clear();
}

Shape GptPipelineStage::boundary_shape(int) const {
  const GptChunk& any = *models_.begin()->second;
  return {any.tp().local_tokens(micro_batch_size_ * config_.seq_len), config_.hidden};
}

GptChunk& GptPipelineStage::chunk_model(int chunk) {
  auto it = models_.find(chunk);
  TRIDENT_CHECK(it != models_.end(), "stage ", stage_, " does not hold chunk ", chunk);
  return *it->second;
}

Tensor GptPipelineStage::forward(int mb, int chunk, const Tensor& input) {
  GptChunk& m = chunk_model(chunk);
  const std::int64_t b0 = mb * micro_batch_size_, b1 = b0 + micro_batch_size_;
  const Tensor in = chunk == 0 ? ids_.slice0(b0, b1) : input;
  if (chunk != schedule_.num_chunks() - 1) {
    Tensor out = m.forward(mb, in);
    if (eval_) m.release(mb);
    return out;
  }
  m.forward(mb, in, targets_.slice0(b0, b1), 1.0f / static_cast<float>(micro_batches_));
  losses_[mb] = m.loss(mb);
  if (eval_) m.release(mb);
  return Tensor();
}

Tensor GptPipelineStage::backward_input(int mb, int chunk, const Tensor& grad_output) {
  return chunk_model(chunk).backward_input(mb, grad_output);
}

void GptPipelineStage::backward_weight(int mb, int chunk) { chunk_model(chunk).backward_weight(mb); }

ParameterList GptPipelineStage::parameters() {
  ParameterList out;
  for (auto& [c, m] : models_)
    for (Parameter* p : m->parameters()) out.push_back(p);
  return out;
}

void GptPipelineStage::zero_grads() {
  for (auto& [c, m] : models_) m->zero_grads();
}

void GptPipelineStage::refresh_compute_copies() {
  for (auto& [c, m] : models_) m->refresh_compute_copies();
}

std::vector<Parameter*> GptPipelineStage::wte_copies() {
  // The embedding's (chunk 0) and the head's (last chunk); one parameter when they are one model.
  std::vector<Parameter*> copies;
  for (int c : {0, schedule_.num_chunks() - 1})
    if (models_.count(c))
      if (Parameter* p = models_.at(c)->find("wte.weight"); p && (copies.empty() || copies.front() != p)) copies.push_back(p);
  return copies;
}

bool GptPipelineStage::is_tied_copy(const Parameter* p) const {
  for (const auto& [c, m] : models_)
    if (m->is_tied_copy(p)) return true;
  return false;
}

std::unique_ptr<GradSync> GptPipelineStage::wire_grad_sync(const ParameterList& order, Communicator* tp_group,
                                                          Communicator* embedding_group, DataParallel* dp) {
  const std::vector<Parameter*> wte = wte_copies();
  auto index = std::make_shared<std::map<const Parameter*, int>>();
  std::vector<GradSyncTensor> tensors;
  for (Parameter* p : order) {
    const bool tied = std::find(wte.begin(), wte.end(), p) != wte.end();
    index->emplace(p, static_cast<int>(tensors.size()));
    tensors.push_back({&p->grad, p->grad_is_tp_partial, tied, p->name()});
  }
  TRIDENT_CHECK(index->size() == parameters().size(), "wire_grad_sync: the order lists ", index->size(),
                " parameters but stage ", stage_, " holds ", parameters().size());
  const bool ends_apart = schedule_.stage_of(0) != schedule_.stage_of(schedule_.num_chunks() - 1);
  TRIDENT_CHECK(wte.empty() || !ends_apart || embedding_group != nullptr, "stage ", stage_,
                " holds a tied wte but has no embedding group");
  auto sync = std::make_unique<GradSync>(std::move(tensors), tp_group, ends_apart ? embedding_group : nullptr, dp);
  GradSync* target = sync.get();
  for (auto& [c, m] : models_) {
    m->set_grad_accumulated_hook([index, target](Parameter& p) { target->accumulated(index->at(&p)); });
    if (!dp) continue;
    GptChunk::ParamEvents events;
    events.before_use = [index, dp](ParamUse use, const ParameterList& params) {
      std::vector<int> tensors;
      for (Parameter* p : params) tensors.push_back(index->at(p));
      dp->before_use(use, tensors);
      // ZeRO-3 has just gathered the masters: round the GEMMs' compute copies (mixed precision).
      if (dp->zero() == 3 && use != ParamUse::kAccumulate)
        for (Parameter* p : params) p->refresh_compute_copy();
    };
    events.end_pass = [dp] { dp->end_pass(); };
    m->set_param_events(std::move(events));
  }
  return sync;
}

std::vector<DpTensor> GptPipelineStage::dp_tensors(const ParameterList& order) {
  const std::vector<Parameter*> wte = wte_copies();
  std::vector<DpTensor> out;
  for (Parameter* p : order) {
    int chunk = -1;
    for (auto& [c, m] : models_) {
      const ParameterList mine = m->parameters();
      if (std::find(mine.begin(), mine.end(), p) != mine.end()) {
        chunk = c;
        break;
      }
    }
    TRIDENT_CHECK(chunk >= 0, "dp_tensors: parameter '", p->name(), "' is not held by stage ", stage_);
    out.push_back({&p->value, &p->grad, chunk, std::find(wte.begin(), wte.end(), p) != wte.end()});
  }
  return out;
}

bool GptPipelineStage::holds_loss() const { return models_.count(schedule_.num_chunks() - 1) != 0; }

double GptPipelineStage::loss() const {
  TRIDENT_CHECK(holds_loss(), "stage ", stage_, " does not hold the loss (the last chunk)");
  TRIDENT_CHECK(static_cast<int>(losses_.size()) == micro_batches_, "loss() before every micro-batch's forward");
  double sum = 0;
  for (const auto& [mb, l] : losses_) sum += l;
  return sum / micro_batches_;
}

double GptPipelineStage::flops_forward_per_micro_batch() const {
  double f = 0;
  for (const auto& [c, m] : models_) f += m->flops_forward(micro_batch_size_);
  return f;
}

}  // namespace trident
