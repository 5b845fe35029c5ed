// The simulator (experiments/sim/) against published training runs and against trident's own
// measured runs, and its speed.
//
//   build/bench/bench_simulator                       published tables + speed benchmarks
//   build/bench/bench_simulator --zb-stages           also each ZB model's simulated per-stage F, I, W
//                                                     of one micro-batch beside the paper's profile
//   build/bench/bench_simulator --cpu-runs DIR [--cpu-cluster FILE]
//                                                     measured vs simulated for DIR's runs (made by
//                                                     bench/sim_cpu_runs.sh) + speed benchmarks
//
// Tables (printed first, then the Google Benchmark speed runs):
//   SP22 Table 5     Korthikanti et al. 2022, A100: eight iteration times, full recompute and
//                    SP + selective; error per row, mean |error| and max (Calculon: 3.65 % / 8.87 %),
//                    MFU and HFU beside the paper's; the 530B run at dp 8 (gradient all-reduce not
//                    overlapped) as a ninth row outside the mean.
//   SP22 memory      activation bytes per transformer layer the layers keep (recorded on a meta
//                    device: tp 8, micro-batch 1, bf16) against the paper's formulas.
//   ZB Table 4       Qi et al. 2024: samples per GPU per second of ZB-2p, ZB-1p, 1F1B and 1F1B-I
//                    (interleaved, one block per chunk); error per entry and whether the predicted
//                    order of the four matches the paper's in each row (a published tie accepts
//                    either order).
//   CPU runs         each run directory's median step time (metrics.jsonl, steps after the first
//                    two) against `trident simulate` of its config.json on the calibrated cluster
//                    (DIR/cpu.json if present, else the shipped cpu.json), with the fastest and slowest
//                    measured step (the run's own spread: other jobs on the machine); mean and max |error| over
//                    the runs on 1–2 ranks, the oversubscribed runs (4, 8 ranks) listed apart.
// Speed: BM_Simulate1T (one step of the 1T model on 3,072 A100s; target < 1 s) and
// BM_Search175B (every layout of GPT-3 175B on 1,024 A100s, global batch 1,536; target < 60 s).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/benchmark_main.h"
#include "experiments/plan/plan.h"
#include "experiments/sim/chunk_ops.h"
#include "experiments/sim/cost_model.h"
#include "experiments/sim/search.h"
#include "experiments/sim/simulator.h"

namespace fs = std::filesystem;

namespace trident {
namespace {

TrainPlan plan_of(const std::vector<std::string>& sets) { return resolve_plan(read_train_config(nlohmann::json::object(), sets)); }

struct Errors {
  std::vector<double> abs;
  void add(double predicted, double measured) { abs.push_back(std::fabs(predicted / measured - 1.0)); }
  double mean() const {
    double s = 0;
    for (double e : abs) s += e;
    return abs.empty() ? 0.0 : s / static_cast<double>(abs.size());
  }
  double max() const { return abs.empty() ? 0.0 : *std::max_element(abs.begin(), abs.end()); }
};

// ---- SP22 ---------------------------------------------------------------------------------------

struct Sp22Run {
  const char* model;
  const char* preset;
  int pp, v, dp;
  const char* schedule;
  std::int64_t batch, micro_batch;
  double full_s, seqsel_s, mfu, hfu;  // published (MFU/HFU: SP + selective)
};

constexpr Sp22Run kSp22[] = {
    {"22B", "sp22-22b", 1, 1, 1, "1f1b", 4, 4, 1.42, 1.10, 0.415, 0.437},
    {"175B", "gpt3-175b", 8, 3, 1, "interleaved", 64, 1, 18.13, 13.75, 0.514, 0.528},
    {"530B", "sp22-530b", 35, 3, 1, "interleaved", 280, 1, 49.05, 37.83, 0.560, 0.570},
    {"1T", "sp22-1t", 64, 1, 1, "1f1b", 512, 1, 94.42, 71.49, 0.563, 0.570},
};

std::vector<std::string> sp22_sets(const Sp22Run& r, bool seqsel, int dp = 1, bool overlap = true) {
  return {std::string("model.preset=") + r.preset, "layout.tp=8", "layout.pp=" + std::to_string(r.pp),
          "layout.dp=" + std::to_string(dp), "layout.v=" + std::to_string(r.v), std::string("layout.schedule=") + r.schedule,
          "layout.micro_batch_size=" + std::to_string(r.micro_batch),
          "layout.micro_batches=" + std::to_string(r.batch / r.micro_batch), "device=cuda",
          std::string("layout.recompute=") + (seqsel ? "selective" : "full"),
          std::string("layout.sequence_parallel=") + (seqsel ? "true" : "false"),
          std::string("layout.overlap_grad_reduce=") + (overlap ? "true" : "false")};
}

void sp22_table(const ClusterSpec& a100) {
  std::printf("== SP22 Table 5 (Korthikanti et al. 2022), cluster %s ==\n", a100.name.c_str());
  std::printf("%-5s %-15s %5s %10s %10s %8s %13s %13s\n", "model", "mode", "GPUs", "published", "simulated", "error",
              "MFU pub/sim", "HFU pub/sim");
  Errors e;
  for (const Sp22Run& r : kSp22)
    for (bool seqsel : {false, true}) {
      const SimResult s = simulate(plan_of(sp22_sets(r, seqsel)), a100, SimOptions{false});
      const double pub = seqsel ? r.seqsel_s : r.full_s;
      e.add(s.step_time_s, pub);
      char mfu[32] = "-", hfu[32] = "-";
      if (seqsel) {
        std::snprintf(mfu, sizeof mfu, "%.1f/%.1f%%", 100 * r.mfu, 100 * s.mfu);
        std::snprintf(hfu, sizeof hfu, "%.1f/%.1f%%", 100 * r.hfu, 100 * s.hfu);
      }
      std::printf("%-5s %-15s %5d %9.2fs %9.2fs %+7.2f%% %13s %13s\n", r.model, seqsel ? "SP + selective" : "full recompute",
                  8 * r.pp, pub, s.step_time_s, 100 * (s.step_time_s / pub - 1), mfu, hfu);
    }
  std::printf("mean |error| %.2f%%, max %.2f%% (Calculon: 3.65%% / 8.87%%)\n", 100 * e.mean(), 100 * e.max());
  const Sp22Run& big = kSp22[2];
  const SimResult dp8 = simulate(plan_of(sp22_sets(big, true, 8, false)), a100, SimOptions{false});
  std::printf("530B at dp 8 (2,240 GPUs, all-reduce not overlapped): published 39.15 s, simulated %.2f s (%+.2f%%)\n\n",
              dp8.step_time_s, 100 * (dp8.step_time_s / 39.15 - 1));
}

// Activation bytes per layer the layers keep for backward (one block, no embedding or head).
void sp22_memory() {
  std::printf("== SP22 activation memory per layer (tp 8, micro-batch 1, bf16; s sequence, h hidden) ==\n");
  std::printf("%-5s %-20s %11s %11s %11s %8s %8s\n", "model", "mode", "formula", "its terms", "trident", "diff",
              "vs terms");
  // Bytes per s·b·h: `rep` replicated over TP, `shard` divided by t. The paper's formulas without
  // their 5as²b/t term (trident's attention is fused: no [B, nh, S, S] tensor exists); `gone` are
  // the formula's terms trident does not keep: the two dropout masks (1 byte each; trident's GPT-2
  // has no dropout) and, under trident's selective recompute, the attention core's output (2) and
  // the GELU output (8), which it rebuilds in backward.
  struct Mode {
    const char* name;
    bool sp;
    Recompute recompute;
    double rep, shard, gone_rep, gone_shard;
  };
  const Mode modes[] = {
      {"TP", false, Recompute::kNone, 10, 24, 2, 0},
      {"TP + SP", true, Recompute::kNone, 0, 34, 0, 2},
      {"TP + SP + selective", true, Recompute::kSelective, 0, 34, 0, 12},
      {"full recompute", false, Recompute::kFull, 2, 0, 0, 0},
  };
  constexpr double t = 8;
  Errors e, kept;
  for (const Sp22Run& r : kSp22) {
    const GptConfig g = plan_of({std::string("model.preset=") + r.preset}).model;
    const double sbh = static_cast<double>(g.seq_len) * static_cast<double>(g.hidden);
    for (const Mode& mode : modes) {
      ChunkRecorder rec(ChunkContext{g, 8, 0, {mode.sp, mode.recompute}, 1, DType::kBF16, DeviceType::kCUDA});
      const double mine = static_cast<double>(rec.get(1, false, false).stash_forward);
      const double want = sbh * (mode.rep + mode.shard / t);
      // Softmax statistics: one f32 per head and token, kept unless the core is recomputed.
      const double stats = mode.recompute == Recompute::kNone ? 4.0 * g.heads * g.seq_len / t : 0.0;
      const double terms = want - sbh * (mode.gone_rep + mode.gone_shard / t) + stats;
      e.add(mine, want);
      kept.add(mine, terms);
      std::printf("%-5s %-20s %7.1f MiB %7.1f MiB %7.1f MiB %+7.2f%% %+7.2f%%\n", r.model, mode.name, want / (1 << 20),
                  terms / (1 << 20), mine / (1 << 20), 100 * (mine / want - 1), 100 * (mine / terms - 1));
    }
  }
  std::printf("against the formulas: mean |diff| %.2f%%, max %.2f%%; against the formulas' terms trident keeps (less "
              "two dropout masks, and under selective the attention output and GELU output, plus softmax "
              "statistics): mean %.3f%%, max %.3f%%\n\n",
              100 * e.mean(), 100 * e.max(), 100 * kept.mean(), 100 * kept.max());
}

// ---- ZB -----------------------------------------------------------------------------------------

struct ZbRow {
  const char* preset;
  int layers, pp, micro_batch, m;
  double published[4];  // ZB-2p, ZB-1p, 1F1B, 1F1B-I: samples per GPU per second
};

constexpr ZbRow kZb[] = {
    {"zb-1.5b", 22, 8, 6, 24, {14.5, 12.9, 11.8, 13.1}},   {"zb-1.5b", 22, 8, 6, 32, {14.8, 13.4, 12.5, 13.4}},
    {"zb-1.5b", 22, 8, 6, 64, {14.9, 14.2, 13.6, 13.9}},   {"zb-6.2b", 30, 8, 3, 24, {4.32, 3.88, 3.50, 4.01}},
    {"zb-6.2b", 30, 8, 3, 32, {4.35, 4.00, 3.70, 4.08}},   {"zb-6.2b", 30, 8, 3, 64, {4.39, 4.20, 4.03, 4.19}},
    {"zb-14.6b", 46, 16, 1, 48, {1.81, 1.61, 1.40, 1.54}}, {"zb-14.6b", 46, 16, 1, 64, {1.83, 1.67, 1.49, 1.59}},
    {"zb-14.6b", 46, 16, 1, 128, {1.85, 1.76, 1.64, 1.66}}, {"zb-28.3b", 62, 32, 1, 96, {0.99, 0.87, 0.76, 0.82}},
    {"zb-28.3b", 62, 32, 1, 128, {1.00, 0.90, 0.80, 0.85}}, {"zb-28.3b", 62, 32, 1, 256, {1.00, 0.96, 0.88, 0.90}},
};

constexpr const char* kZbSchedules[4] = {"zb-2p", "zb-1p", "1f1b", "interleaved"};

// Whether the predicted order of the four schedules is the paper's: every pair the paper ranks
// (published values that differ) ranked the same way; a published tie accepts either order.
bool zb_order_matches(const double sim[4], const double published[4]) {
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b)
      if (published[a] != published[b] && (published[a] > published[b]) != (sim[a] > sim[b])) return false;
  return true;
}

// The paper's split: the first and last stages hold one block fewer; 1F1B-I one block per chunk
// (so the first and the last chunk hold none).
std::string zb_split(int layers, int pp, int v) {
  std::vector<int> per;
  if (v == 1) {
    per.assign(static_cast<std::size_t>(pp), (layers + 2) / pp);
    per.front() -= 1, per.back() -= 1;
  } else {
    per.assign(static_cast<std::size_t>(pp * v), 1);
    per.front() = 0, per.back() = 0;
  }
  std::string out = "[";
  for (std::size_t i = 0; i < per.size(); ++i) out += (i ? "," : "") + std::to_string(per[i]);
  return out + "]";
}

void zb_table(const ClusterSpec& cluster) {
  // The paper's runs used Megatron's p2p, whose receive blocks its stage until the transfer lands
  // (trident posts receives ahead): modelled as they were made, as the analyzer's check of the same
  // table does (README, "Pipeline schedules").
  ClusterSpec a100 = cluster;
  a100.network.receive_holds_stage = true;
  std::printf("== ZB Table 4 (Qi et al. 2024), cluster %s: samples per GPU per second ==\n", a100.name.c_str());
  std::printf("%-9s %4s %16s %16s %16s %16s  %s\n", "model", "m", "ZB-2p", "ZB-1p", "1F1B", "1F1B-I", "order");
  Errors e;
  int orders = 0;
  for (const ZbRow& row : kZb) {
    double sim[4];
    std::printf("%-9s %4d", row.preset, row.m);
    for (int k = 0; k < 4; ++k) {
      const int v = k == 3 ? (row.layers + 2) / row.pp : 1;
      const TrainPlan plan = plan_of({std::string("model.preset=") + row.preset, "layout.tp=1", "layout.dp=1",
                                      "layout.pp=" + std::to_string(row.pp), "layout.v=" + std::to_string(v),
                                      std::string("layout.schedule=") + kZbSchedules[k],
                                      "layout.micro_batch_size=" + std::to_string(row.micro_batch),
                                      "layout.micro_batches=" + std::to_string(row.m), "device=cuda",
                                      "layout.layers_per_chunk=" + zb_split(row.layers, row.pp, v)});
      const SimResult r = simulate(plan, a100, SimOptions{false});
      sim[k] = static_cast<double>(row.m * row.micro_batch) / r.step_time_s / row.pp;
      e.add(sim[k], row.published[k]);
      std::printf("  %5.2f/%5.2f %+4.0f%%", row.published[k], sim[k], 100 * (sim[k] / row.published[k] - 1));
    }
    const bool same = zb_order_matches(sim, row.published);
    orders += same ? 1 : 0;
    std::printf("  %s\n", same ? "same" : "differs");
  }
  std::printf("mean |error| %.2f%%, max %.2f%%; order matches in %d of 12 rows\n\n", 100 * e.mean(), 100 * e.max(), orders);
}

// The simulator's own per-micro-batch costs of each ZB model beside the paper's profile (its
// auto-scheduler's inputs: the median stage's T_F, T_B, T_W, and T_comm per hop): each stage's F,
// I (the paper's B) and W of one micro-batch, and the p2p time of its boundary.
void zb_stages(const ClusterSpec& a100) {
  struct Profile {
    const char* preset;
    int layers, pp, micro_batch;
    double f, b, w, comm;  // ms, the paper's first row of each model
  };
  const Profile prof[] = {{"zb-1.5b", 22, 8, 6, 18.522, 18.086, 9.337, 0.601},
                          {"zb-6.2b", 30, 8, 3, 29.718, 29.444, 19.927, 0.527},
                          {"zb-14.6b", 46, 16, 1, 11.347, 11.248, 8.132, 0.377},
                          {"zb-28.3b", 62, 32, 1, 10.419, 10.207, 7.715, 0.408}};
  std::printf("== ZB per-micro-batch stage costs, simulated (1F1B split) vs the paper's profile (median stage), "
              "ms ==\n");
  for (const Profile& q : prof) {
    const TrainPlan plan = plan_of({std::string("model.preset=") + q.preset, "layout.tp=1", "layout.dp=1",
                                    "layout.pp=" + std::to_string(q.pp), "layout.v=1", "layout.schedule=1f1b",
                                    "layout.micro_batch_size=" + std::to_string(q.micro_batch),
                                    "layout.micro_batches=" + std::to_string(2 * q.pp), "device=cuda",
                                    "layout.layers_per_chunk=" + zb_split(q.layers, q.pp, 1)});
    const SimResult r = simulate(plan, a100, SimOptions{false});
    const double bytes = static_cast<double>(q.micro_batch) * plan.model.seq_len * plan.model.hidden * 2.0;  // bf16
    const double p2p = 1e3 * collective_seconds(CommKind::kSend, bytes, GroupSpan{2, 1, 2}, a100.network);
    std::printf("%-9s paper F %6.2f  B %6.2f  W %6.2f  comm %5.3f; simulated p2p (intra-node) %5.3f\n", q.preset, q.f,
                q.b, q.w, q.comm, p2p);
    for (std::size_t k = 0; k < r.stages.size(); ++k) {
      if (k != 0 && k != 1 && k + 1 != r.stages.size()) continue;
      const double f = 1e3 * r.stages[k].f_s, i = 1e3 * r.stages[k].i_s, w = 1e3 * r.stages[k].w_s;
      std::printf("  stage %2zu  F %6.2f  I %6.2f  W %6.2f  (F/paper %+5.1f%%, I %+5.1f%%, W %+5.1f%%)\n", k, f, i, w,
                  100 * (f / q.f - 1), 100 * (i / q.b - 1), 100 * (w / q.w - 1));
    }
    std::printf("  step %.1f ms, simulated 1F1B (m = 2p)\n", 1e3 * r.step_time_s);
  }
  std::printf("\n");
}

// ---- CPU runs -----------------------------------------------------------------------------------

// Step times of a run (metrics.jsonl), steps after the first two: median, fastest, slowest.
struct StepTimes {
  double median = 0.0, min = 0.0, max = 0.0;
};
StepTimes step_times(const std::string& metrics) {
  std::ifstream in(metrics);
  std::vector<double> t;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step_time_s") || j.value("step", 0) <= 2) continue;
    t.push_back(j["step_time_s"].get<double>());
  }
  if (t.empty()) return {};
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

void cpu_runs(const std::string& dir, const std::string& cluster_path) {
  const ClusterSpec cpu = load_cluster(cluster_path);
  std::printf("== trident's own runs under %s, cluster %s ==\n", dir.c_str(), cpu.source.c_str());
  std::printf("%-22s %5s %11s %19s %11s %8s\n", "run", "ranks", "measured", "(fastest-slowest)", "simulated", "error");
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (fs::is_regular_file(entry.path() / "config.json") && fs::is_regular_file(entry.path() / "metrics.jsonl"))
      runs.push_back(entry.path());
  std::sort(runs.begin(), runs.end());
  Errors small, big;
  for (const fs::path& run : runs) {
    const TrainPlan plan = resolve_plan(read_train_config_file((run / "config.json").string()));
    const StepTimes times = step_times((run / "metrics.jsonl").string());
    const double measured = times.median;
    if (measured <= 0) continue;
    const SimResult s = simulate(plan, cpu, SimOptions{false});
    (plan.world_size() <= 2 ? small : big).add(s.step_time_s, measured);
    std::printf("%-22s %5d %9.1f ms  (%6.0f-%6.0f ms) %9.1f ms %+7.2f%%\n", run.filename().c_str(), plan.world_size(),
                1e3 * measured, 1e3 * times.min, 1e3 * times.max, 1e3 * s.step_time_s, 100 * (s.step_time_s / measured - 1));
  }
  std::printf("1-2 ranks: %zu runs, mean |error| %.2f%%, max %.2f%%", small.abs.size(), 100 * small.mean(), 100 * small.max());
  std::printf("; 4-8 ranks (oversubscribed): %zu runs, mean |error| %.2f%%, max %.2f%%\n\n", big.abs.size(),
              100 * big.mean(), 100 * big.max());
}

// ---- speed ----------------------------------------------------------------------------------------

void BM_Simulate1T(benchmark::State& state) {
  const TrainPlan plan = plan_of({"model.preset=sp22-1t", "layout.tp=8", "layout.pp=64", "layout.dp=6",
                                  "layout.micro_batch_size=1", "layout.micro_batches=512", "layout.sequence_parallel=true",
                                  "layout.recompute=selective", "device=cuda"});
  const ClusterSpec a100 = load_cluster("a100");
  for (auto _ : state) benchmark::DoNotOptimize(simulate(plan, a100, SimOptions{false}).step_time_s);
  state.counters["gpus"] = 3072;
}

void BM_Search175B(benchmark::State& state) {
  TrainConfig base = read_train_config(nlohmann::json::object(), {"model.preset=gpt3-175b", "device=cuda"});
  SearchSpace space;
  space.devices = 1024;
  space.global_batch = 1536;
  const ClusterSpec a100 = load_cluster("a100");
  for (auto _ : state) {
    const SearchResult r = search_layouts(base, space, a100);
    state.counters["candidates"] = r.candidates;
    state.counters["simulated"] = r.simulated;
    if (!r.rows.empty() && r.rows.front().fits) state.counters["best_mfu"] = r.rows.front().mfu;
  }
}

void register_benchmarks() {
  benchmark::RegisterBenchmark("BM_Simulate1T", BM_Simulate1T)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Search175B", BM_Search175B)->Unit(benchmark::kSecond)->Iterations(1);
}

}  // namespace
}  // namespace trident

int main(int argc, char** argv) {
  using namespace trident;
  std::vector<char*> rest = {argv[0]};
  std::string runs, cluster;
  bool zb_detail = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cpu-runs" && i + 1 < argc) runs = argv[++i];
    else if (a == "--cpu-cluster" && i + 1 < argc) cluster = argv[++i];
    else if (a == "--zb-stages") zb_detail = true;
    else rest.push_back(argv[i]);
  }
  try {
    if (runs.empty()) {
      const ClusterSpec a100 = load_cluster("a100");
      sp22_table(a100);
      sp22_memory();
      zb_table(a100);
      if (zb_detail) zb_stages(a100);
    } else {
      if (cluster.empty()) cluster = fs::is_regular_file(fs::path(runs) / "cpu.json") ? (fs::path(runs) / "cpu.json").string() : "cpu";
      cpu_runs(runs, cluster);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_simulator: %s\n", e.what());
    return 1;
  }
  std::fflush(stdout);
  return bench::run_benchmarks(static_cast<int>(rest.size()), rest.data(), register_benchmarks);
}
