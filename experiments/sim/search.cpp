#include "experiments/sim/search.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "experiments/plan/plan.h"
#include "experiments/sim/simulator.h"
#include "schedules/generators.h"

namespace trident {

namespace {

std::vector<int> divisors(std::int64_t n, std::int64_t limit) {
  std::vector<int> out;
  for (std::int64_t d = 1; d <= n && d <= limit; ++d)
    if (n % d == 0) out.push_back(static_cast<int>(d));
  return out;
}

// The layout fields of a candidate, before resolve_plan checks them.
struct Candidate {
  int tp, pp, dp, v, mbs, m;
  std::string schedule;
};

// Schedules (and chunks per stage) worth trying for a pipeline of pp stages: one schedule without
// a pipeline; every registered generator otherwise, with the chunks per stage it fixes, or each v
// it accepts up to max_v (every chunk must get a block).
std::vector<std::pair<std::string, int>> schedules_for(int pp, std::int64_t layers, int max_v) {
  if (pp == 1) return {{"1f1b", 1}};
  std::vector<std::pair<std::string, int>> out;
  for (const ScheduleKind& kind : schedule_kinds()) {
    if (kind.fixed_v > 0) {
      if (pp * kind.fixed_v <= layers) out.emplace_back(std::string(kind.name), kind.fixed_v);
      continue;
    }
    for (int v = std::max(2, kind.min_v); v <= max_v && pp * v <= layers; ++v)
      out.emplace_back(std::string(kind.name), v);
  }
  return out;
}

// A candidate's plan: resolve_plan(c)'s, or nullopt where it refuses c, with the layout's schedule
// built once for all its choices of recompute, sequence parallelism and ZeRO (a cost-aware one at
// m = 768 takes most of a second; a layout has up to 24 choices). resolve_plan builds the plan's
// schedule, v and layer split from the layout's schedule, pp, v and micro-batches alone, and checks
// the choices apart from them; so each choice is resolved with 1F1B at v = 1 (any micro-batch
// count, pp chunks: no rule a schedule's own does not imply) and takes the schedule, v and layer
// split of `layout`, the layout's own resolve, made on its first valid choice. test_sim holds every
// row of a search to its config resolved and simulated alone.
std::optional<TrainPlan> resolve_choice(const TrainConfig& c, std::optional<TrainPlan>& layout) {
  TrainConfig stand_in = c;
  stand_in.layout.schedule = "1f1b";
  stand_in.layout.v = 1;
  TrainPlan plan;
  try {
    plan = resolve_plan(stand_in);
    if (!layout) layout = resolve_plan(c);
  } catch (const Error&) {
    return std::nullopt;
  }
  plan.schedule = layout->schedule;
  plan.v = layout->v;
  plan.layers_per_chunk = layout->layers_per_chunk;
  return plan;
}

}  // namespace

SearchResult search_layouts(const TrainConfig& base, const SearchSpace& space, const ClusterSpec& cluster,
                            const std::function<void(const std::string&)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const GptConfig& model = base.model;
  TRIDENT_CHECK(space.devices >= 1, "search: --gpus is ", space.devices, ": use at least 1 device");
  TRIDENT_CHECK(space.global_batch >= 1, "search: --global-batch is ", space.global_batch,
                ": use at least 1 sequence per step");
  const DeviceType device = cluster.device.kind == DeviceSpec::Kind::kGpu ? DeviceType::kCUDA : DeviceType::kCPU;
  const int per_node = cluster.network.devices_per_node;

  std::vector<Candidate> layouts;
  for (int tp : divisors(space.devices, std::min<std::int64_t>(per_node, model.heads)))
    for (int pp : divisors(space.devices / tp, model.layers)) {
      const int dp = space.devices / tp / pp;
      if (space.global_batch % dp != 0) continue;
      for (int mbs : space.micro_batch_sizes) {
        if ((space.global_batch / dp) % mbs != 0) continue;
        const int m = static_cast<int>(space.global_batch / dp / mbs);
        for (const auto& [name, v] : schedules_for(pp, model.layers, space.max_v))
          layouts.push_back({tp, pp, dp, v, mbs, m, name});
      }
    }

  SearchResult result;
  std::map<std::tuple<int, bool, std::string, int>, std::unique_ptr<ChunkRecorder>> recorders;
  std::vector<SearchRow> fit, unfit;
  SimReuse reuse;  // the ZeRO stages of a layout share its cost-aware schedule and timeline
  std::size_t done = 0;
  for (const Candidate& l : layouts) {
    if (progress && ++done % 200 == 0)
      progress("  " + std::to_string(done) + " / " + std::to_string(layouts.size()) + " layouts\n");
    TrainConfig c = base;
    LayoutConfig& lc = c.layout;
    lc.tp = l.tp, lc.pp = l.pp, lc.dp = l.dp, lc.v = l.v, lc.micro_batch_size = l.mbs, lc.micro_batches = l.m;
    lc.schedule = l.schedule, lc.schedule_file.clear(), lc.layers_per_chunk.clear();
    std::optional<TrainPlan> layout;  // the layout's own resolve, made by the first choice that passes
    for (const std::string& recompute : space.recompute)
      for (bool sp : {false, true}) {
        if (sp && l.tp == 1) continue;
        lc.recompute = recompute, lc.sequence_parallel = sp, lc.zero = 0;
        std::optional<TrainPlan> plan = resolve_choice(c, layout);
        if (!plan) continue;  // not a valid layout (the reason is resolve_plan's to give for a single run)
        // The ZeRO stage reaches a plan only as plan.dp.zero (resolve_plan bounds it to 0..3, as
        // this loop does), so the stages share one resolve.
        for (int zero = 0; zero <= (l.dp > 1 ? 3 : 0); ++zero) {
          plan->dp.zero = zero;
          ++result.candidates;
          auto& rec = recorders[{l.tp, sp, recompute, l.mbs}];
          if (!rec) rec = std::make_unique<ChunkRecorder>(chunk_context(*plan, device));
          SearchRow row{l.tp, l.pp, l.dp, plan->schedule.v, l.mbs, l.m, zero, l.schedule, recompute, sp, false, 0, {}};
          const MemoryEstimate mem = estimate_memory(*plan, *rec, static_cast<std::int64_t>(cluster.device.memory_bytes));
          row.fits = mem.fits();
          row.peak_memory_bytes = mem.peak_bytes();
          row.biggest_memory_term = mem.stages[static_cast<std::size_t>(mem.worst_stage())].biggest().first;
          if (!row.fits) {
            unfit.push_back(row);
            continue;
          }
          const SimResult r = simulate(*plan, cluster, *rec, SimOptions{false, false, &reuse});
          ++result.simulated;
          row.step_time_s = r.step_time_s;
          row.tokens_per_s = r.tokens_per_s;
          row.mfu = r.mfu;
          row.bubble_frac = r.bubble_frac;
          fit.push_back(row);
        }
      }
  }
  std::stable_sort(fit.begin(), fit.end(), [](const SearchRow& a, const SearchRow& b) { return a.tokens_per_s > b.tokens_per_s; });
  std::stable_sort(unfit.begin(), unfit.end(),
                   [](const SearchRow& a, const SearchRow& b) { return a.peak_memory_bytes < b.peak_memory_bytes; });
  result.rows = std::move(fit);
  result.rows.insert(result.rows.end(), unfit.begin(), unfit.end());
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

std::string search_csv(const SearchResult& r) {
  std::ostringstream os;
  os << "rank,tp,pp,dp,v,schedule,micro_batch_size,micro_batches,recompute,sequence_parallel,zero,fits,"
        "peak_memory_bytes,biggest_memory_term,step_time_s,tokens_per_s,mfu,bubble_frac\n";
  int rank = 0;
  for (const SearchRow& x : r.rows) {
    os << (x.fits ? std::to_string(++rank) : "") << ',' << x.tp << ',' << x.pp << ',' << x.dp << ',' << x.v << ','
       << x.schedule << ',' << x.micro_batch_size << ',' << x.micro_batches << ',' << x.recompute << ','
       << (x.sequence_parallel ? 1 : 0) << ',' << x.zero << ',' << (x.fits ? 1 : 0) << ',' << x.peak_memory_bytes << ','
       << x.biggest_memory_term << ',';
    if (x.fits) os << x.step_time_s << ',' << x.tokens_per_s << ',' << x.mfu << ',' << x.bubble_frac;
    else os << ",,,";
    os << '\n';
  }
  return os.str();
}

std::string search_table(const SearchResult& r, std::size_t top) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%4s %4s %4s %5s %3s %-12s %4s %5s %-9s %3s %4s %10s %12s %7s %7s %10s\n", "#", "tp",
                "pp", "dp", "v", "schedule", "mbs", "m", "recompute", "sp", "zero", "step", "tokens/s", "MFU",
                "bubble", "memory");
  os << line;
  for (std::size_t i = 0; i < r.rows.size() && i < top && r.rows[i].fits; ++i) {
    const SearchRow& x = r.rows[i];
    std::snprintf(line, sizeof line, "%4zu %4d %4d %5d %3d %-12s %4d %5d %-9s %3s %4d %8.4g s %12.0f %6.2f%% %6.2f%% %7.2f GiB\n",
                  i + 1, x.tp, x.pp, x.dp, x.v, x.schedule.c_str(), x.micro_batch_size, x.micro_batches,
                  x.recompute.c_str(), x.sequence_parallel ? "on" : "off", x.zero, x.step_time_s, x.tokens_per_s,
                  100 * x.mfu, 100 * x.bubble_frac, static_cast<double>(x.peak_memory_bytes) / (1 << 30));
    os << line;
  }
  return os.str();
}

}  // namespace trident
