// Trainer::save_checkpoint / load_checkpoint: the trainer's state in the layout-independent form
// of checkpoint_files.h.
#include <filesystem>

#include "core/shard_spec.h"
#include "experiments/train/checkpoint_files.h"
#include "experiments/train/metrics.h"
#include "experiments/train/model_weights.h"
#include "experiments/train/trainer.h"
#include "layers/gather_full.h"

namespace trident {

namespace fs = std::filesystem;

namespace {
nlohmann::json model_sizes(const GptConfig& c) {
  return {{"layers", c.layers}, {"hidden", c.hidden}, {"heads", c.heads}, {"seq_len", c.seq_len}, {"vocab", c.vocab}};
}
// What trainer.json records of the model: its sizes and ln_eps (which exports and generation need).
nlohmann::json with_ln_eps(nlohmann::json sizes, const GptConfig& c) {
  sizes["ln_eps"] = c.ln_eps;
  return sizes;
}
}  // namespace

void Trainer::save_checkpoint(const std::string& dir) {
  const std::string tmp = dir + ".tmp";
  if (world_.rank() == 0) {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  world_.barrier();
  const TensorParallel& tp = stage_->chunk_model(stage_->chunks().front()).tp();
  std::vector<std::pair<std::string, Tensor>> model, optim;
  // Each tensor whole over DP (gathered from the shards under ZeRO), then over TP: collective over
  // both, in tensor order, so every replica takes part and the groups stay in step.
  dp_->for_each_full_state([&](int i, const Tensor& value_local, const Tensor& m_local, const Tensor& v_local) {
    Parameter* p = params_[static_cast<std::size_t>(i)];
    Tensor value = without_padding(*p, gather_full(*p, value_local, tp));
    Tensor m = without_padding(*p, gather_full(*p, m_local, tp));
    Tensor v = without_padding(*p, gather_full(*p, v_local, tp));
    if (stage_->is_tied_copy(p)) return;  // the embedding's copy is the one stored
    model.emplace_back(p->name(), value);
    optim.emplace_back(p->name() + ".exp_avg", m);
    optim.emplace_back(p->name() + ".exp_avg_sq", v);
  });
  const std::string suffix = "-pp" + std::to_string(mesh_.coord().pp) + ".safetensors";
  if (mesh_.coord().dp == 0 && mesh_.coord().tp == 0 && !model.empty()) {
    write_safetensors((fs::path(tmp) / ("model" + suffix)).string(), model, {{"format", "pt"}});
    write_safetensors((fs::path(tmp) / ("optimizer" + suffix)).string(), optim);
  }
  world_.barrier();
  if (world_.rank() == 0) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& entry : fs::directory_iterator(tmp)) {
      const std::string name = entry.path().filename().string();
      files[name] = {{"bytes", fs::file_size(entry.path())}, {"crc32", file_crc32(entry.path().string())}};
    }
    write_json_atomic((fs::path(tmp) / "trainer.json").string(),
                      {{"format", kCheckpointFormat},
                       {"step", step_},
                       {"optimizer_steps", optimizer_->steps_taken()},
                       {"samples_consumed", samples_consumed_},
                       {"data_seed", plan_.data.seed},
                       {"model", with_ln_eps(model_sizes(plan_.model), plan_.model)},
                       {"written_by_layout", {{"dp", plan_.mesh.dp()}, {"pp", plan_.mesh.pp()}, {"tp", plan_.mesh.tp()},
                                              {"schedule", plan_.schedule.name}}},
                       {"files", files}});
    fs::remove_all(dir);  // an older checkpoint at the same path
    fs::rename(tmp, dir);
  }
  world_.barrier();
}

void Trainer::load_weights(const std::string& dir) {
  const ModelWeights weights(dir);
  weights.check(plan_.model);
  weights.load(stage_->parameters());  // both copies of a tied wte read the same tensor
  stage_->refresh_compute_copies();
}

void Trainer::load_checkpoint(const std::string& dir) {
  const CheckpointReader ckpt(dir);
  const nlohmann::json& m = ckpt.manifest();
  const nlohmann::json want = model_sizes(plan_.model);
  for (const auto& [key, value] : want.items())
    TRIDENT_CHECK(m["model"].value(key, -1) == value.get<std::int64_t>(), "checkpoint '", dir, "' is for model.", key,
                  " = ", m["model"].value(key, -1), " but this run has model.", key, " = ", value.get<std::int64_t>());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    // This TP rank's shard of a stored tensor (whole over DP: data parallelism keeps its part).
    auto read = [&](const std::string& name) {
      const SafetensorsFile& f = ckpt.file_of(name);
      TRIDENT_CHECK(f.shape(name) == p->export_shape(), "checkpoint '", dir, "': '", name, "' is ",
                    f.shape(name).str(), " but this model needs ", p->export_shape().str());
      Tensor full = Tensor::zeros(p->full_shape());  // vocabulary padding rows stay zero
      f.read_into(name, full.slice0(0, p->valid_rows()));
      return extract_shard(full, p->spec());
    };
    dp_->load_full_state(static_cast<int>(i), read(p->name()), read(p->name() + ".exp_avg"),
                         read(p->name() + ".exp_avg_sq"));
  }
  const CheckpointManifest fields = parse_checkpoint_manifest(m, dir);  // range-checked (no negative step)
  step_ = fields.step;
  samples_consumed_ = fields.samples_consumed;
  optimizer_->set_steps_taken(fields.optimizer_steps);
  stage_->refresh_compute_copies();
}

}  // namespace trident
