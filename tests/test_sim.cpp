// The simulator (experiments/sim/) against closed forms: its pipeline DES against the analyzer for
// every generator, the published bubbles, collective formulas and the network tiers, memory against
// hand arithmetic of what the layers keep, and clear errors for bad cluster files and plans.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "core/ops.h"
#include "experiments/plan/plan.h"
#include "experiments/sim/chunk_ops.h"
#include "experiments/sim/cluster.h"
#include "experiments/sim/cost_model.h"
#include "experiments/sim/memory_model.h"
#include "experiments/sim/search.h"
#include "experiments/sim/simulator.h"
#include "experiments/sim/timeline.h"
#include "schedules/analyzer.h"
#include "schedules/generators.h"

namespace trident {
namespace {

TrainPlan plan_of(const std::vector<std::string>& sets) { return resolve_plan(read_train_config(nlohmann::json::object(), sets)); }

ActionCosts unit(double f, double b, double i, double w, double p2p = 0.0, double recv = 0.0) {
  ActionCosts c;
  c.f = f, c.b = b, c.i = i, c.w = w, c.p2p = p2p, c.recv = recv;
  return c;
}

// A small two-node GPU cluster with round numbers, for formulas.
nlohmann::json test_cluster_json() {
  return {{"name", "test"},
          {"device",
           {{"kind", "gpu"},
            {"peak_flops", {{"bf16", 100e12}, {"f32", 10e12}}},
            {"memory_bytes", 80e9},
            {"memory_bandwidth", 2e12},
            {"gemm", {{"max_efficiency", 0.5}, {"half_dim", 0}}},
            {"attention_efficiency", 0.5},
            {"memory_efficiency", 0.5}}},
          {"network",
           {{"devices_per_node", 4},
            {"intra_node", {{"bandwidth", 100e9}, {"latency_s", 0.0}, {"efficiency", 1.0}}},
            {"inter_node", {{"bandwidth", 10e9}, {"latency_s", 0.0}, {"efficiency", 1.0}}}}}};
}

// ---- the pipeline DES against the analyzer -----------------------------------------------------

TEST(SimTimeline, UnitCostsReproduceTheAnalyzerForEveryGenerator) {
  for (std::string_view name : schedule_names()) {
    for (int p : {1, 2, 4}) {
      const int v = name == "interleaved" || name == "zb-v" ? 2 : 1;
      for (int m : {4, 8}) {
        Schedule s;
        try {
          s = make_schedule(name, p, v, m);
        } catch (const Error&) {
          continue;  // a micro-batch count the generator does not take
        }
        for (const ActionCosts& c :
             {unit(1, 2, 1, 1), unit(1, 2, 1, 1, 0.25), unit(1.5, 3, 2, 1), unit(1, 2, 1, 1, 0.25, 0.25)}) {
          SCOPED_TRACE(std::string(name) + " p=" + std::to_string(p) + " m=" + std::to_string(m));
          const Analysis a = analyze(s, c);
          const PipelineTimeline t = simulate_pipeline(s, costs_from(c, s));
          EXPECT_NEAR(t.makespan, a.makespan, 1e-9);
          for (int r = 0; r < p; ++r) {
            const StageTimeline& st = t.stages[static_cast<std::size_t>(r)];
            EXPECT_NEAR(st.compute_s, a.busy[static_cast<std::size_t>(r)], 1e-9) << "stage " << r;
            EXPECT_NEAR(t.makespan - st.compute_s, a.bubble[static_cast<std::size_t>(r)], 1e-9) << "stage " << r;
            EXPECT_EQ(st.peak_stash, a.peak_stash[static_cast<std::size_t>(r)]) << "stage " << r;
          }
        }
      }
    }
  }
}

TEST(SimTimeline, OneFOneBBubbleIsPMinusOneOverMPlusPMinusOne) {
  for (int p : {2, 4, 8})
    for (int m : {p, 2 * p, 16}) {
      const Schedule s = one_f_one_b(p, m);
      const PipelineTimeline t = simulate_pipeline(s, costs_from(unit(1, 2, 1, 1), s));
      for (const StageTimeline& st : t.stages)
        EXPECT_NEAR((t.makespan - st.compute_s) / t.makespan, double(p - 1) / (m + p - 1), 1e-12);
    }
}

TEST(SimTimeline, ZbH1BubbleIsPMinusOneTimesFPlusIMinusW) {
  const double f = 1.0, i = 1.2, w = 0.7;
  for (int p : {2, 4, 8})
    for (int m : {p, 2 * p}) {
      const Schedule s = zb_h1(p, m);
      const PipelineTimeline t = simulate_pipeline(s, costs_from(unit(f, i + w, i, w), s));
      for (const StageTimeline& st : t.stages) EXPECT_NEAR(t.makespan - st.compute_s, (p - 1) * (f + i - w), 1e-9);
    }
}

// Oversubscribed CPU ranks: two stages that compute at once on one core take twice as long.
TEST(SimTimeline, SharedCoresSlowConcurrentStages) {
  const Schedule s = gpipe(2, 4);
  TimelineCosts c = costs_from(unit(1, 2, 1, 1), s);
  const double alone = simulate_pipeline(s, c).makespan;
  c.sharing = {true, 1.0, 1, 1};
  const double shared = simulate_pipeline(s, c).makespan;
  EXPECT_NEAR(alone, 15.0, 1e-9);  // (m + p − 1)(f + b)
  // All 24 units of work on one core, plus the first forward and the last backward alone.
  EXPECT_NEAR(shared, 24.0, 1e-9);
}

// ---- collectives and tiers ---------------------------------------------------------------------

TEST(SimCost, RingAllReduceIsTwoNMinusOneOverNBytesOverBandwidth) {
  const ClusterSpec c = parse_cluster(test_cluster_json(), "test");
  const double bytes = 256e6;
  for (int n : {2, 3, 4}) {
    const GroupSpan inside{n, 1, n};
    EXPECT_NEAR(collective_seconds(CommKind::kAllReduce, bytes, inside, c.network), 2.0 * (n - 1) / n * bytes / 100e9,
                1e-15);
    EXPECT_NEAR(collective_seconds(CommKind::kAllGather, bytes, inside, c.network), 1.0 * (n - 1) / n * bytes / 100e9,
                1e-15);
  }
}

// An unfused attention's score traffic: forward and backward each their own bytes per score (a file
// without the backward's gets twice the forward's); a measured send replaces the link model for
// pipeline p2p only (Megatron-LM's per-call overhead, clusters/a100.json), not for collectives.
TEST(SimCost, ScoreBytesPerDirectionAndMeasuredSendOnlyForP2p) {
  nlohmann::json j = test_cluster_json();
  j["device"]["attention_score_bytes"] = 6;
  EXPECT_EQ(parse_cluster(j, "test").device.attention_score_bytes_backward, 12);
  j["device"]["attention_score_bytes_backward"] = 19;
  const ClusterSpec c = parse_cluster(j, "test");
  EXPECT_EQ(c.device.attention_score_bytes_backward, 19);
  EXPECT_EQ(parse_cluster(to_json(c), "round trip").device.attention_score_bytes_backward, 19);
  OpRecord fwd;
  fwd.kind = OpKind::kAttentionForward;
  fwd.dtype = DType::kBF16;
  fwd.shape = Shape{2, 1024, 3, 8, 64};  // B, S, 3, nh, hd: 2·8·1024² scores
  fwd.flops = 0, fwd.bytes = 0;
  OpRecord bwd = fwd;
  bwd.kind = OpKind::kAttentionBackward;
  const double scores = 2.0 * 8 * 1024 * 1024, bw = 2e12 * 0.5;
  EXPECT_NEAR(op_seconds(fwd, c.device), 6 * scores / bw, 1e-12);
  EXPECT_NEAR(op_seconds(bwd, c.device), 19 * scores / bw, 1e-12);

  j["network"]["intra_node"]["collectives"] = {{"send", {{"bus_bandwidth", 50e9}, {"latency_s", 2e-4}}}};
  const ClusterSpec m = parse_cluster(j, "test");
  const GroupSpan pair{2, 1, 2};
  EXPECT_NEAR(collective_seconds(CommKind::kSend, 10e6, pair, m.network), 2e-4 + 10e6 / 50e9, 1e-15);
  EXPECT_NEAR(collective_seconds(CommKind::kRecv, 10e6, pair, m.network), 2e-4 + 10e6 / 50e9, 1e-15);
  EXPECT_NEAR(collective_seconds(CommKind::kAllReduce, 10e6, pair, m.network), 10e6 / 100e9, 1e-15);
}

TEST(SimCost, DataParallelGroupAcrossNodesIsSlowerThanInsideOne) {
  const ClusterSpec c = parse_cluster(test_cluster_json(), "test");
  // dp=4 innermost: the DP group is one node's 4 devices; dp outermost with tp=4: one per node.
  const TrainPlan inside = plan_of({"model.preset=mini", "layout.dp=4", "layout.tp=4", "layout.pp=1",
                                    "layout.order=dp-tp-pp", "layout.micro_batches=2", "device=cuda"});
  const TrainPlan across = plan_of({"model.preset=mini", "layout.dp=4", "layout.tp=4", "layout.pp=1",
                                    "layout.order=tp-pp-dp", "layout.micro_batches=2", "device=cuda"});
  EXPECT_EQ(span_of(inside.mesh, MeshAxis::kData, 0, 4).nodes, 1);
  EXPECT_EQ(span_of(across.mesh, MeshAxis::kData, 0, 4).nodes, 4);
  const SimResult a = simulate(inside, c), b = simulate(across, c);
  EXPECT_GT(b.stages[0].dp_comm_s, 5 * a.stages[0].dp_comm_s);
  EXPECT_LT(a.stages[0].dp_comm_s, b.stages[0].dp_comm_s);
}

// ---- memory against hand arithmetic -----------------------------------------------------------

// The whole mini model on one f32 CPU rank: what each block keeps for backward, per token, is
// x, ln_1(x), qkv (3h), attention out (h), x1, ln_2(x1), fc pre-activation (4h), GELU (4h) = 16h
// floats, the two LayerNorms' mean and rstd (4 floats), and what the CPU attention saves (its
// softmax statistics); the head keeps ln_f's input, mean and rstd, its own input and the logits
// (V), overwritten by their gradient in the forward.
TEST(SimMemory, StashOfTheMiniModelMatchesHandArithmetic) {
  const GptConfig g = GptConfig::mini();
  const std::int64_t b = 2, tokens = b * g.seq_len, h = g.hidden;
  ChunkRecorder rec(ChunkContext{g, 1, 0, {}, b, DType::kF32, DeviceType::kCPU});
  const ChunkOps& ops = rec.get(g.layers, true, true);
  const std::int64_t attention_saved = ops_for(Device::cpu()).attention_saved_shape(b, g.heads, g.seq_len).numel();
  const std::int64_t block = tokens * (16 * h + 4) + attention_saved;
  const std::int64_t head = tokens * (h + 2 + h + g.vocab);
  EXPECT_EQ(ops.stash_forward, 4 * (g.layers * block + head));
  // Parameters: V·h + S·h + L·(12h² + 13h) + 2h (one wte: the chunk is the whole model).
  EXPECT_EQ(ops.param_elements, g.parameter_count());

  const TrainPlan plan = plan_of({"model.preset=mini", "layout.dp=1", "layout.pp=1", "layout.tp=1",
                                  "layout.micro_batch_size=2", "layout.micro_batches=3"});
  const MemoryEstimate m = estimate_memory(plan, DeviceType::kCPU);
  ASSERT_EQ(m.stages.size(), 1u);
  const std::int64_t psi = g.parameter_count();
  EXPECT_EQ(m.stages[0].weights, 4 * psi);
  EXPECT_EQ(m.stages[0].gradients, 4 * psi);
  EXPECT_EQ(m.stages[0].optimizer_state, 8 * psi);
  EXPECT_EQ(m.stages[0].communication, 0);
  // One stage, pp = 1: a forward and its backward alternate, so one micro-batch's stash plus its
  // working memory, plus the step's token ids and targets.
  EXPECT_GE(m.stages[0].activations, ops.stash_forward);
  EXPECT_LT(m.stages[0].activations, 2 * ops.stash_forward);
}

TEST(SimMemory, ZeroStagesShardModelStatesOverDataParallelism) {
  for (int zero : {0, 1}) {
    const TrainPlan plan = plan_of({"model.preset=mini", "layout.dp=4", "layout.pp=1", "layout.tp=1",
                                    std::string("layout.zero=") + (zero ? "1" : "0")});
    const MemoryEstimate m = estimate_memory(plan, DeviceType::kCPU);
    const std::int64_t psi = GptConfig::mini().parameter_count();
    EXPECT_EQ(m.stages[0].optimizer_state, zero ? 8 * psi / 4 : 8 * psi);
    EXPECT_EQ(m.stages[0].weights, 4 * psi);
  }
}

// ---- errors ------------------------------------------------------------------------------------

void expect_error(const nlohmann::json& doc, const std::string& needle) {
  try {
    (void)parse_cluster(doc, "bad.json");
    FAIL() << "no error; expected one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(SimCluster, BadFilesNameTheField) {
  nlohmann::json j = test_cluster_json();
  j["device"].erase("memory_bandwidth");
  expect_error(j, "/device/memory_bandwidth is missing");
  j = test_cluster_json();
  j["network"]["inter_node"]["bandwidth"] = -5;
  expect_error(j, "/network/inter_node/bandwidth is -5");
  j = test_cluster_json();
  j["device"]["peak_flops"]["bf16"] = "fast";
  expect_error(j, "/device/peak_flops/bf16 is \"fast\"");
  j = test_cluster_json();
  j["device"]["gemm"]["max_efficency"] = 0.7;
  expect_error(j, "/device/gemm/max_efficency is not a field");
  j = test_cluster_json();
  j["device"]["kind"] = "tpu";
  expect_error(j, "/device/kind is 'tpu'");
  j = test_cluster_json();
  j["network"]["devices_per_node"] = 0;
  expect_error(j, "/network/devices_per_node is 0");
  j = test_cluster_json();
  j["network"]["receive_holds_stage"] = 1;
  expect_error(j, "/network/receive_holds_stage is 1");
  EXPECT_THROW((void)load_cluster("no-such-cluster"), Error);
}

TEST(SimCluster, ShippedClustersLoad) {
  for (const std::string& name : shipped_cluster_names()) {
    const ClusterSpec c = load_cluster(name);
    EXPECT_EQ(c.name, name);
    EXPECT_GT(c.device.memory_bytes, 0);
  }
}

TEST(SimPlan, ImpossibleLayoutsAreClearErrors) {
  try {
    (void)plan_of({"model.preset=mini", "layout.tp=3", "layout.dp=1", "layout.pp=1"});
    FAIL() << "heads % tp accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.heads"), std::string::npos) << e.what();
  }
  // 1T parameters on one GPU can never fit: the estimate says so and names the biggest term.
  const TrainPlan huge = plan_of({"model.preset=sp22-1t", "layout.dp=1", "layout.tp=1", "layout.pp=1",
                                  "layout.micro_batch_size=1", "layout.micro_batches=1", "device=cuda"});
  const SimResult r = simulate(huge, load_cluster("a100"), SimOptions{false});
  EXPECT_FALSE(r.memory.fits());
  EXPECT_NE(r.memory.advice().find("optimizer state"), std::string::npos) << r.memory.advice();
}

// ---- search ------------------------------------------------------------------------------------

// Every candidate is a valid layout of the device count; what fits comes first, best first, and is
// exactly what `simulate` says of that plan; what does not fit needs more than the device has.
TEST(SimSearch, EnumeratesValidLayoutsDropsWhatDoesNotFitAndRanksByThroughput) {
  nlohmann::json doc = test_cluster_json();
  const TrainConfig base = read_train_config(nlohmann::json::object(), {"model.preset=mini", "device=cuda"});
  SearchSpace space;
  space.devices = 4;
  space.global_batch = 8;
  space.micro_batch_sizes = {1, 2};
  // Capacity between the smallest and the largest need, so that both kinds of row exist.
  doc["device"]["memory_bytes"] = 1e12;
  const SearchResult all = search_layouts(base, space, parse_cluster(doc, "test"));
  std::int64_t lo = all.rows.front().peak_memory_bytes, hi = lo;
  for (const SearchRow& r : all.rows) lo = std::min(lo, r.peak_memory_bytes), hi = std::max(hi, r.peak_memory_bytes);
  ASSERT_LT(lo, hi);
  doc["device"]["memory_bytes"] = static_cast<double>((lo + hi) / 2);
  const ClusterSpec cluster = parse_cluster(doc, "test");
  const SearchResult r = search_layouts(base, space, cluster);

  EXPECT_EQ(r.candidates, static_cast<int>(r.rows.size()));
  EXPECT_GT(r.simulated, 0);
  EXPECT_LT(r.simulated, r.candidates);
  std::set<std::string> schedules;
  std::set<std::tuple<int, int, int>> meshes;
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const SearchRow& x = r.rows[i];
    EXPECT_EQ(x.tp * x.pp * x.dp, 4);
    EXPECT_EQ(static_cast<std::int64_t>(x.dp) * x.micro_batch_size * x.micro_batches, 8);
    EXPECT_EQ(x.fits, i < static_cast<std::size_t>(r.simulated));
    EXPECT_EQ(x.fits, x.peak_memory_bytes <= doc["device"]["memory_bytes"].get<double>());
    if (x.fits && i > 0) {
      EXPECT_GE(r.rows[i - 1].tokens_per_s, x.tokens_per_s);
    }
    EXPECT_TRUE(x.tp > 1 || !x.sequence_parallel);
    EXPECT_TRUE(x.dp > 1 || x.zero == 0);
    schedules.insert(x.schedule);
    meshes.insert({x.tp, x.pp, x.dp});
  }
  EXPECT_EQ(meshes.size(), 6u);  // every (tp, pp, dp) of 4 devices is a valid layout of mini
  for (std::string_view name : schedule_names()) EXPECT_TRUE(schedules.count(std::string(name))) << name;

  // The best row is the simulation of its plan.
  const SearchRow& best = r.rows.front();
  TrainConfig c = base;
  c.layout.tp = best.tp, c.layout.pp = best.pp, c.layout.dp = best.dp, c.layout.v = best.v;
  c.layout.micro_batch_size = best.micro_batch_size, c.layout.micro_batches = best.micro_batches;
  c.layout.schedule = best.schedule, c.layout.recompute = best.recompute;
  c.layout.sequence_parallel = best.sequence_parallel, c.layout.zero = best.zero;
  EXPECT_NEAR(simulate(resolve_plan(c), cluster, SimOptions{false}).step_time_s, best.step_time_s, 1e-12);

  const std::string csv = search_csv(r);
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), r.rows.size() + 1);
  EXPECT_EQ(csv.rfind("rank,tp,pp,dp,v,schedule", 0), 0u);
}

// A search's ZeRO stages share the cost-aware schedule and the pipeline timeline through SimReuse:
// with it, each stage (and each stage again, now from the cache) simulates to what it does alone.
TEST(SimSearch, ReusedScheduleAndTimelineGiveWhatAFreshSimulationGives) {
  const ClusterSpec cluster = parse_cluster(test_cluster_json(), "test");
  SimReuse reuse;
  for (int pass = 0; pass < 2; ++pass)
    for (int zero = 0; zero <= 3; ++zero) {
      const TrainPlan plan = plan_of({"model.preset=mini", "device=cuda", "layout.pp=2", "layout.dp=2",
                                      "layout.schedule=zb-1p", "layout.micro_batches=6",
                                      "layout.zero=" + std::to_string(zero)});
      const SimResult with = simulate(plan, cluster, SimOptions{false, false, &reuse});
      const SimResult alone = simulate(plan, cluster, SimOptions{false, false});
      EXPECT_EQ(with.step_time_s, alone.step_time_s) << "zero " << zero;
      EXPECT_EQ(with.bubble_frac, alone.bubble_frac) << "zero " << zero;
      for (std::size_t p = 0; p < alone.stages.size(); ++p) {
        EXPECT_EQ(with.stages[p].pipeline_s, alone.stages[p].pipeline_s) << "zero " << zero;
        EXPECT_EQ(with.stages[p].dp_exposed_s, alone.stages[p].dp_exposed_s) << "zero " << zero;
      }
      EXPECT_EQ(reuse.timed.stages, reuse.schedule.stages);  // the timeline kept is the built schedule's
    }
}

// A search shares work between candidates (a layout's schedule resolved once for all its choices,
// the ZeRO stages' cost-aware schedule and pipeline timeline): every row, fitting or not, is still
// bit for bit what its config resolved, estimated and simulated alone says.
TEST(SimSearch, EveryRowIsItsConfigSimulatedAlone) {
  const TrainConfig base = read_train_config(nlohmann::json::object(), {"model.preset=mini", "device=cuda"});
  SearchSpace space;
  space.devices = 4;
  space.global_batch = 8;
  space.micro_batch_sizes = {1, 2};
  nlohmann::json doc = test_cluster_json();
  const double capacity = 8e7;  // some rows fit, some do not
  doc["device"]["memory_bytes"] = capacity;
  const ClusterSpec cluster = parse_cluster(doc, "test");
  const SearchResult r = search_layouts(base, space, cluster);
  int fits = 0, shared = 0;  // shared: cost-aware rows past a layout's first ZeRO stage
  for (const SearchRow& x : r.rows) {
    TrainConfig c = base;
    c.layout.tp = x.tp, c.layout.pp = x.pp, c.layout.dp = x.dp, c.layout.v = x.v;
    c.layout.micro_batch_size = x.micro_batch_size, c.layout.micro_batches = x.micro_batches;
    c.layout.schedule = x.schedule, c.layout.recompute = x.recompute;
    c.layout.sequence_parallel = x.sequence_parallel, c.layout.zero = x.zero;
    const std::string what = x.schedule + " tp" + std::to_string(x.tp) + " pp" + std::to_string(x.pp) + " v" +
                             std::to_string(x.v) + " mbs" + std::to_string(x.micro_batch_size) + " " + x.recompute +
                             (x.sequence_parallel ? " sp" : "") + " zero" + std::to_string(x.zero);
    const TrainPlan plan = resolve_plan(c);
    const MemoryEstimate mem = estimate_memory(plan, DeviceType::kCUDA, static_cast<std::int64_t>(capacity));
    EXPECT_EQ(mem.peak_bytes(), x.peak_memory_bytes) << what;
    EXPECT_EQ(mem.fits(), x.fits) << what;
    if (!x.fits) continue;
    ++fits;
    shared += (x.schedule == "zb-1p" || x.schedule == "zb-2p") && x.zero > 0;
    const SimResult alone = simulate(plan, cluster, SimOptions{false, false});
    EXPECT_EQ(alone.step_time_s, x.step_time_s) << what;
    EXPECT_EQ(alone.tokens_per_s, x.tokens_per_s) << what;
    EXPECT_EQ(alone.mfu, x.mfu) << what;
    EXPECT_EQ(alone.bubble_frac, x.bubble_frac) << what;
  }
  EXPECT_GT(shared, 0);
  EXPECT_LT(fits, static_cast<int>(r.rows.size()));
}

// Simulating a GPU plan needs no GPU, no data file and finishes fast even at scale.
TEST(SimScale, OneTrillionParametersOnThreeThousandGpus) {
  const TrainPlan plan = plan_of({"model.preset=sp22-1t", "layout.tp=8", "layout.pp=64", "layout.dp=6",
                                  "layout.micro_batch_size=1", "layout.micro_batches=512",
                                  "layout.sequence_parallel=true", "layout.recompute=selective", "device=cuda",
                                  "data.train=/nonexistent.bin"});
  const SimResult r = simulate(plan, load_cluster("a100"), SimOptions{false});
  EXPECT_EQ(r.world_size, 3072);
  EXPECT_GT(r.mfu, 0.2);
  EXPECT_LT(r.mfu, 0.8);
  EXPECT_LT(r.wall_s, 5.0);  // the bench holds it to 1 s; tests run on loaded machines
}

}  // namespace
}  // namespace trident
