// SimResult as JSON, as a summary table, and as a Chrome trace (the measured trace's layout: pid =
// world rank, tids compute / pp comm / dp comm), so a simulated and a measured step open side by
// side in Perfetto.
#include <cstdio>
#include <sstream>

#include "experiments/sim/simulator.h"

namespace trident {

nlohmann::json to_json(const SimResult& r) {
  using json = nlohmann::json;
  json stages = json::array();
  const MemoryBreakdown none;
  for (std::size_t s = 0; s < r.stages.size(); ++s) {
    const StageResult& st = r.stages[s];
    const MemoryBreakdown& mem = s < r.memory.stages.size() ? r.memory.stages[s] : none;
    stages.push_back({{"stage", st.stage},
                      {"rank", st.rank},
                      {"pipeline_s", st.pipeline_s},
                      {"compute_s", st.compute_s},
                      {"bubble_s", st.bubble_s},
                      {"bubble_frac", st.bubble_s / r.step_time_s},
                      {"tp_comm_s", st.tp_comm_s},
                      {"pp_wait_s", st.pp_wait_s},
                      {"pp_transfer_s", st.pp_transfer_s},
                      {"embedding_s", st.embedding_s},
                      {"dp_comm_s", st.dp_comm_s},
                      {"dp_exposed_s", st.dp_exposed_s},
                      {"optimizer_s", st.optimizer_s},
                      {"end_s", st.end_s},
                      {"micro_batch_s", {{"f", st.f_s}, {"i", st.i_s}, {"w", st.w_s}}},
                      {"peak_memory_bytes", mem.total()},
                      {"memory",
                       {{"weights", mem.weights},
                        {"gradients", mem.gradients},
                        {"optimizer_state", mem.optimizer_state},
                        {"activations", mem.activations},
                        {"communication", mem.communication}}},
                      {"fits_memory", r.memory.capacity_bytes <= 0 || mem.total() <= r.memory.capacity_bytes}});
  }
  return {{"cluster", r.cluster},
          {"world_size", r.world_size},
          {"step_time_s", r.step_time_s},
          {"tokens_per_s", r.tokens_per_s},
          {"model_tflops_per_device", r.model_tflops_per_device},
          {"mfu", r.mfu},
          {"hfu", r.hfu},
          {"peak_flops", r.peak_flops},
          {"bubble_frac", r.bubble_frac},
          {"exposed_comm_s",
           {{"tp", r.exposed_comm_s.tp}, {"pp", r.exposed_comm_s.pp}, {"dp", r.exposed_comm_s.dp},
            {"embedding", r.exposed_comm_s.embedding}}},
          {"peak_memory_bytes", r.memory.peak_bytes()},
          {"memory_capacity_bytes", r.memory.capacity_bytes},
          {"fits_memory", r.memory.fits()},
          {"stages", stages},
          {"simulation_wall_s", r.wall_s}};
}

std::string summary_table(const SimResult& r) {
  std::ostringstream os;
  char line[256];
  auto ms = [](double s) { return 1e3 * s; };
  std::snprintf(line, sizeof line, "simulated step on %s, %d devices\n", r.cluster.c_str(), r.world_size);
  os << line;
  std::snprintf(line, sizeof line,
                "  step %.4g ms | %.0f tok/s | %.2f TFLOP/s per device | MFU %.2f%% | HFU %.2f%% | bubble %.1f%%\n",
                ms(r.step_time_s), r.tokens_per_s, r.model_tflops_per_device, 100 * r.mfu, 100 * r.hfu,
                100 * r.bubble_frac);
  os << line;
  std::snprintf(line, sizeof line, "  exposed communication: tp %.4g ms | pp %.4g ms | dp %.4g ms | embedding %.4g ms\n",
                ms(r.exposed_comm_s.tp), ms(r.exposed_comm_s.pp), ms(r.exposed_comm_s.dp),
                ms(r.exposed_comm_s.embedding));
  os << line << "\n";
  std::snprintf(line, sizeof line, "%5s %6s %10s %10s %8s %10s %10s %10s %11s %11s %11s %11s %11s %5s\n", "stage",
                "rank", "compute", "bubble", "bubble%", "tp comm", "dp comm", "optimizer", "weights", "grads",
                "optimizer", "activations", "total", "fits");
  os << line;
  const MemoryBreakdown none;
  for (std::size_t s = 0; s < r.stages.size(); ++s) {
    const StageResult& st = r.stages[s];
    const MemoryBreakdown& mem = s < r.memory.stages.size() ? r.memory.stages[s] : none;
    const bool fits = r.memory.capacity_bytes <= 0 || mem.total() <= r.memory.capacity_bytes;
    std::snprintf(line, sizeof line, "%5d %6d %8.4g ms %7.4g ms %7.2f%% %7.4g ms %7.4g ms %7.4g ms %11s %11s %11s %11s %11s %5s\n",
                  st.stage, st.rank, ms(st.compute_s), ms(st.bubble_s), 100 * st.bubble_s / r.step_time_s,
                  ms(st.tp_comm_s), ms(st.dp_comm_s), ms(st.optimizer_s), format_bytes(mem.weights).c_str(),
                  format_bytes(mem.gradients).c_str(), format_bytes(mem.optimizer_state).c_str(),
                  format_bytes(mem.activations).c_str(), format_bytes(mem.total()).c_str(), fits ? "yes" : "NO");
    os << line;
  }
  if (r.memory.capacity_bytes > 0 && !r.memory.fits()) os << "\ndoes not fit: " << r.memory.advice() << "\n";
  return os.str();
}

void write_sim_trace(const std::string& path, const SimResult& r) { write_chrome_trace(path, r.trace, r.trace_names); }

}  // namespace trident
