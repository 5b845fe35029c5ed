#include "experiments/train/step_record.h"

#include <cmath>

namespace trident {

namespace {
using json = nlohmann::json;

json finite_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

double number(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}
}  // namespace

json to_json(const MemoryAtPeak& m) {
  return {{"weights", m.weights},           {"gradients", m.gradients},       {"optimizer_state", m.optimizer_state},
          {"comm_buffers", m.comm_buffers}, {"activations", m.activations}};
}

MemoryAtPeak memory_at_peak_from_json(const json& j) {
  auto bytes = [&](const char* key) { return static_cast<std::int64_t>(number(j, key, 0.0)); };
  return {bytes("weights"), bytes("gradients"), bytes("optimizer_state"), bytes("comm_buffers"), bytes("activations")};
}

json to_json(const StepRecord& r) {
  json j;
  j["step"] = r.step;
  j["loss"] = finite_or_null(r.loss);
  if (r.val_loss) j["val_loss"] = finite_or_null(*r.val_loss);
  j["grad_norm"] = finite_or_null(r.grad_norm);
  j["lr"] = r.lr;
  j["skipped"] = r.skipped;
  j["step_time_s"] = r.step_time_s;
  j["tokens_per_s"] = r.tokens_per_s;
  j["tflops_per_rank"] = r.tflops_per_rank;
  j["mfu"] = r.mfu;
  j["bubble_s"] = r.bubble_s;
  j["bubble_frac"] = r.bubble_frac;
  j["predicted_bubble_frac"] = r.predicted_bubble_frac;
  j["comm_s"] = {{"tp", r.comm_s.tp}, {"pp", r.comm_s.pp}, {"dp", r.comm_s.dp}, {"embedding", r.comm_s.embedding}};
  j["dp_exposed_s"] = r.dp_exposed_s;
  j["peak_mem_bytes"] = {{"min", r.peak_mem_min}, {"max", r.peak_mem_max}, {"per_stage", r.peak_mem_per_stage},
                         {"breakdown", to_json(r.peak_mem_breakdown)}};
  return j;
}

StepRecord step_record_from_json(const json& j) {
  StepRecord r;
  r.step = static_cast<std::int64_t>(number(j, "step", 0));
  r.loss = number(j, "loss", StepRecord::kNaN);
  if (j.contains("val_loss")) r.val_loss = number(j, "val_loss", StepRecord::kNaN);
  r.grad_norm = number(j, "grad_norm", StepRecord::kNaN);
  r.lr = number(j, "lr", 0.0);
  r.skipped = j.value("skipped", false);
  r.step_time_s = number(j, "step_time_s", 0.0);
  r.tokens_per_s = number(j, "tokens_per_s", 0.0);
  r.tflops_per_rank = number(j, "tflops_per_rank", 0.0);
  r.mfu = number(j, "mfu", 0.0);
  r.bubble_s = number(j, "bubble_s", 0.0);
  r.bubble_frac = number(j, "bubble_frac", 0.0);
  r.predicted_bubble_frac = number(j, "predicted_bubble_frac", 0.0);
  if (auto c = j.find("comm_s"); c != j.end() && c->is_object())
    r.comm_s = {number(*c, "tp", 0.0), number(*c, "pp", 0.0), number(*c, "dp", 0.0), number(*c, "embedding", 0.0)};
  r.dp_exposed_s = number(j, "dp_exposed_s", 0.0);
  if (auto m = j.find("peak_mem_bytes"); m != j.end() && m->is_object()) {
    r.peak_mem_min = static_cast<std::int64_t>(number(*m, "min", 0.0));
    r.peak_mem_max = static_cast<std::int64_t>(number(*m, "max", 0.0));
    if (auto s = m->find("per_stage"); s != m->end() && s->is_array())
      for (const json& v : *s) r.peak_mem_per_stage.push_back(v.is_number() ? v.get<std::int64_t>() : 0);
    if (auto b = m->find("breakdown"); b != m->end() && b->is_object()) r.peak_mem_breakdown = memory_at_peak_from_json(*b);
  }
  return r;
}

}  // namespace trident
