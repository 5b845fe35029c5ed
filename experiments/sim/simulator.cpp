#include "experiments/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "experiments/sim/cost_model.h"
#include "experiments/sim/dp_model.h"
#include "experiments/sim/timeline.h"
#include "schedules/generators.h"
#include "schedules/timeline.h"

namespace trident {

namespace {

// Everything costed about one chunk's actions on the cluster.
struct ChunkCost {
  const ChunkOps* ops = nullptr;
  ActionCost f, i, w;
  double partial_s = 0.0;  // GradSync's TP all-reduce of sequence-parallel partial sums
  GroupSpan tp_span;
  std::vector<std::pair<int, double>> marks;  // (param, seconds into W) of each gradient-ready mark
  double half(ActionType t) const {
    return t == ActionType::kF ? f.total() : t == ActionType::kI ? i.total() : t == ActionType::kW ? w.total()
                                                                                                 : i.total() + w.total();
  }
};

OpRecord synthetic(OpKind kind, double elements, double bytes_per_element, double flops_per_element) {
  OpRecord r;
  r.kind = kind;
  r.dtype = DType::kF32;
  r.shape = Shape{static_cast<std::int64_t>(elements)};
  r.bytes = elements * bytes_per_element;
  r.flops = elements * flops_per_element;
  return r;
}

// When each gradient-ready mark of a stage's W (or B, or an FB's B half) happened, per (chunk,
// param), in the order the stage ran them. Marks sit at their offset into the W part, stretched
// like the action (shared cores slow an action down evenly).
std::map<std::pair<int, int>, std::vector<double>> mark_times(const StageTimeline& st,
                                                              const std::vector<ChunkCost>& costs,
                                                              const TimelineCosts& tc) {
  std::map<std::pair<int, int>, std::vector<double>> out;
  for (const TimedAction& t : st.actions) {
    if (!t.action.is_compute()) continue;
    double nominal = 0.0;
    for (const Action& h : parts(t.action)) nominal += costs[static_cast<std::size_t>(h.chunk)].half(h.type);
    bool final = false;
    for (const Action& h : parts(t.action))
      final = final || (st.final_action[static_cast<std::size_t>(h.chunk)] == t.action &&
                        st.final_start[static_cast<std::size_t>(h.chunk)] == t.start);
    if (final)
      for (const Action& h : parts(t.action)) nominal += tc.final_extra_s[static_cast<std::size_t>(h.chunk)];
    const double stretch = nominal > 0.0 ? (t.end - t.start) / nominal : 1.0;
    double base = 0.0;
    for (const Action& h : parts(t.action)) {
      const ChunkCost& c = costs[static_cast<std::size_t>(h.chunk)];
      if (h.type == ActionType::kW || h.type == ActionType::kB) {
        const double w_start = base + (h.type == ActionType::kB ? c.i.total() : 0.0);
        for (const auto& [param, offset] : c.marks) out[{h.chunk, param}].push_back(t.start + (w_start + offset) * stretch);
      }
      base += c.half(h.type);
    }
  }
  return out;
}

// Everything the DES reads of a schedule (all but its name) and of its costs (every field).
bool same_timeline_inputs(const Schedule& a, const TimelineCosts& ca, const Schedule& b, const TimelineCosts& cb) {
  const CpuSharing &sa = ca.sharing, &sb = cb.sharing;
  return a.pp == b.pp && a.v == b.v && a.micro_batches == b.micro_batches && a.placement == b.placement &&
         a.forward_only == b.forward_only && a.stages == b.stages && ca.action_s == cb.action_s && ca.final_extra_s == cb.final_extra_s &&
         ca.p2p_s == cb.p2p_s && ca.recv_hold_s == cb.recv_hold_s && ca.gather_s == cb.gather_s &&
         sa.enabled == sb.enabled && sa.cores == sb.cores && sa.ranks_per_stage == sb.ranks_per_stage &&
         sa.threads_per_rank == sb.threads_per_rank;
}

// The pipeline timeline of `s` under `tc`: the one `reuse` keeps if it was made from the same
// inputs, else a fresh one, kept in `reuse` (or in `fresh` without one).
const PipelineTimeline& timeline_of(const Schedule& s, const TimelineCosts& tc, SimReuse* reuse, PipelineTimeline& fresh) {
  if (reuse && same_timeline_inputs(s, tc, reuse->timed, reuse->costs)) return reuse->timeline;
  fresh = simulate_pipeline(s, tc);
  if (!reuse) return fresh;
  reuse->timed = s;
  reuse->costs = tc;
  reuse->timeline = std::move(fresh);
  return reuse->timeline;
}

}  // namespace

SimResult simulate(const TrainPlan& plan, const ClusterSpec& cluster, const SimOptions& options) {
  const DeviceSpec& dev = cluster.device;
  ChunkRecorder recorder(chunk_context(plan, dev.kind == DeviceSpec::Kind::kCpu ? DeviceType::kCPU : DeviceType::kCUDA));
  return simulate(plan, cluster, recorder, options);
}

SimResult simulate(const TrainPlan& plan, const ClusterSpec& cluster, ChunkRecorder& recorder,
                   const SimOptions& options) {
  const auto wall0 = std::chrono::steady_clock::now();
  const DeviceSpec& dev = cluster.device;
  const NetworkSpec& net = cluster.network;
  const bool cpu = dev.kind == DeviceSpec::Kind::kCpu;
  // A cost-aware schedule (the automatic scheduler's ZB-1p / ZB-2p) is rebuilt from the simulated
  // costs below, as the zero-bubble paper builds it from profiled ones.
  Schedule s = plan.schedule;
  const ScheduleKind* kind = plan.schedule_file.empty() ? find_schedule_kind(s.name) : nullptr;
  const bool rebuild = kind != nullptr && kind->cost_aware;
  const MeshLayout& mesh = plan.mesh;
  const int chunks = s.num_chunks(), last = chunks - 1, pp = s.pp, dpn = net.devices_per_node;
  const int world = mesh.world_size(), dp = mesh.dp(), m = s.micro_batches;
  const int zero = dp > 1 ? plan.dp.zero : 0;  // DataParallel: one replica has nothing to shard
  // CPU ranks on one node split its cores between them (experiments/launch/launch.sh's rule).
  const int on_node = std::min(world, dpn);
  const int threads = cpu ? std::max(1, dev.cores / on_node) : 1;
  auto rank_of = [&](int stage) { return mesh.rank(MeshCoord{0, stage, 0}); };
  const double peak = dev.peak(plan.compute_dtype);

  // ---- per-chunk action costs ---------------------------------------------------------------
  std::vector<ChunkCost> cc(static_cast<std::size_t>(chunks));
  std::vector<const ChunkOps*> ops(cc.size());
  TimelineCosts tc;
  tc.action_s.resize(cc.size());
  tc.final_extra_s.assign(cc.size(), 0.0);
  tc.p2p_s.assign(cc.size(), 0.0);
  tc.recv_hold_s.assign(cc.size(), 0.0);
  for (int c = 0; c < chunks; ++c) {
    const auto cu = static_cast<std::size_t>(c);
    ChunkCost& k = cc[cu];
    const int stage = s.stage_of(c);
    k.ops = ops[cu] = &recorder.get(plan.layers_per_chunk[cu], c == 0, c == last);
    k.tp_span = span_of(mesh, MeshAxis::kTensor, rank_of(stage), dpn);
    k.f = action_cost(k.ops->forward, dev, k.tp_span, net, threads);
    k.i = action_cost(k.ops->backward_input, dev, k.tp_span, net, threads);
    k.w = action_cost(k.ops->backward_weight, dev, k.tp_span, net, threads);
    k.marks = grad_ready_offsets(k.ops->backward_weight, dev, k.tp_span, net, threads);
    for (const ChunkParam& p : k.ops->params)
      if (p.tp_partial) k.partial_s += collective_seconds(CommKind::kAllReduce, 4.0 * p.elements, k.tp_span, net);
    tc.action_s[cu] = {k.half(ActionType::kF), k.half(ActionType::kB), k.half(ActionType::kI), k.half(ActionType::kW)};
    tc.final_extra_s[cu] = k.partial_s;
    if (c < last && s.stage_of(c + 1) != stage)
      tc.p2p_s[cu] = collective_seconds(CommKind::kSend, static_cast<double>(k.ops->boundary_bytes),
                                        span_of({rank_of(stage), rank_of(s.stage_of(c + 1))}, dpn), net);
    if (net.receive_holds_stage) tc.recv_hold_s[cu] = tc.p2p_s[cu];
  }
  if (rebuild) {
    ActionCosts ac;
    for (int c = 0; c < chunks; ++c) ac.per_chunk.push_back(tc.action_s[static_cast<std::size_t>(c)]);
    for (double p2p : tc.p2p_s) ac.p2p = std::max(ac.p2p, p2p);
    for (double hold : tc.recv_hold_s) ac.recv = std::max(ac.recv, hold);
    SimReuse* last = options.reuse;
    if (last && last->name == kind->name && last->pp == pp && last->v == s.v && last->m == m &&
        last->per_chunk == ac.per_chunk && last->p2p == ac.p2p && last->recv == ac.recv) {
      s = last->schedule;
    } else {
      s = kind->make(pp, s.v, m, ac);
      if (last) {
        last->name = kind->name, last->pp = pp, last->v = s.v, last->m = m;
        last->per_chunk = ac.per_chunk, last->p2p = ac.p2p, last->recv = ac.recv, last->schedule = s;
      }
    }
  }
  // Data parallelism of every stage, as DataParallel lays it out.
  std::vector<StageDp> sdp;
  for (int p = 0; p < pp; ++p) sdp.push_back(stage_dp(s, p, ops, dp, plan.dp));
  if (zero == 3) {
    // Each chunk's parameters are gathered before its forward and backward-input (compute dtype
    // bytes per element of the gathered f32 master: trident gathers the f32 buffers).
    tc.gather_s.assign(cc.size(), 0.0);
    for (int c = 0; c < chunks; ++c)
      tc.gather_s[static_cast<std::size_t>(c)] = collective_seconds(
          CommKind::kAllGather, 4.0 * static_cast<double>(ops[static_cast<std::size_t>(c)]->param_elements),
          span_of(mesh, MeshAxis::kData, rank_of(s.stage_of(c)), dpn), net);
  }
  PipelineTimeline fresh_timeline;  // tl's storage unless options.reuse keeps it
  tc.sharing.enabled = cpu && on_node * threads > dev.cores;
  tc.sharing.cores = dev.cores;
  tc.sharing.ranks_per_stage = mesh.tp() * dp;
  tc.sharing.threads_per_rank = threads;
  const PipelineTimeline& tl = timeline_of(s, tc, options.reuse, fresh_timeline);

  // ---- gradients: tied copies, DP reductions ------------------------------------------------
  SimResult r;
  r.cluster = cluster.name;
  r.world_size = world;
  r.peak_flops = peak;
  r.stages.resize(static_cast<std::size_t>(pp));
  const bool ends_apart = s.stage_of(0) != s.stage_of(last);
  std::vector<double> grads_done(static_cast<std::size_t>(pp), 0.0), shard(static_cast<std::size_t>(pp), 0.0);
  std::vector<std::vector<TraceEvent>> dp_events(static_cast<std::size_t>(pp));
  for (int p = 0; p < pp; ++p) {
    const auto pu = static_cast<std::size_t>(p);
    const StageTimeline& st = tl.stages[pu];
    const StageDp& d = sdp[pu];
    StageResult& out = r.stages[pu];
    out.stage = p;
    out.rank = rank_of(p);
    out.pipeline_s = st.end;
    out.compute_s = st.compute_s;
    out.bubble_s = st.end - st.compute_s;
    out.pp_wait_s = st.recv_wait_s;
    out.pp_transfer_s = st.transfer_wait_s;
    out.dp_exposed_s = st.gather_wait_s;
    for (int c : s.chunks_of(p)) {
      const ChunkCost& k = cc[static_cast<std::size_t>(c)];
      out.tp_comm_s += m * (k.f.tp_comm_s + k.i.tp_comm_s + k.w.tp_comm_s) + k.partial_s;
      out.f_s += k.f.total();
      out.i_s += k.i.total();
      out.w_s += k.w.total();
      out.matmul_flops += m * (ChunkOps::matmul_flops(k.ops->forward) + ChunkOps::matmul_flops(k.ops->backward_input) +
                               ChunkOps::matmul_flops(k.ops->backward_weight));
    }
    // The tied wte: its copies are summed over the embedding group after the schedule.
    std::int64_t wte_elements = 0;
    for (const DpTensorRef& t : d.tensors)
      if (t.wte) wte_elements = t.elements;
    if (wte_elements > 0 && ends_apart)
      out.embedding_s = collective_seconds(CommKind::kAllReduce, 4.0 * static_cast<double>(wte_elements),
                                           span_of(mesh.embedding_group(out.rank), dpn), net);
    const double tied = st.end + out.embedding_s;

    // Reductions: ZeRO 0/1 reduce each bucket once, when its last member is final (its chunk's
    // last W); ZeRO 2/3 reduce-scatter each bucket's gradients of every micro-batch, once each
    // member holds it. Tied buckets go after the tie. Without overlap, everything goes at the end.
    const auto marks = mark_times(st, cc, tc);
    const GroupSpan dp_span = span_of(mesh, MeshAxis::kData, out.rank, dpn);
    const CommKind kind = zero >= 1 ? CommKind::kReduceScatter : CommKind::kAllReduce;
    std::vector<std::pair<double, double>> launches;  // (launch time, duration)
    for (const DpBucket& b : d.buckets) {
      shard[pu] += zero >= 1 ? static_cast<double>(b.padded) / dp : static_cast<double>(b.padded);
      if (dp <= 1) continue;
      const double dur = collective_seconds(kind, 4.0 * static_cast<double>(b.padded), dp_span, net);
      const bool tied_bucket = d.tensors[static_cast<std::size_t>(b.members.front())].wte;
      const int rounds = zero >= 2 && !tied_bucket ? m : 1;
      for (int round = 0; round < rounds; ++round) {
        double ready = tied_bucket ? tied : 0.0;
        for (int i : b.members) {
          if (tied_bucket) break;
          const DpTensorRef& t = d.tensors[static_cast<std::size_t>(i)];
          const std::vector<double>& at = marks.at({t.chunk, t.param});
          ready = std::max(ready, zero >= 2 ? at[static_cast<std::size_t>(round)] : at.back());
        }
        launches.emplace_back(plan.dp.overlap ? ready : tied, dur);
      }
    }
    std::stable_sort(launches.begin(), launches.end());
    double free_at = 0.0;
    for (std::size_t b = 0; b < launches.size(); ++b) {
      const double start = std::max(free_at, launches[b].first);
      free_at = start + launches[b].second;
      out.dp_comm_s += launches[b].second;
      if (options.trace)
        dp_events[pu].push_back({"dp " + std::string(comm_kind_name(kind)), "comm", out.rank, 2, start * 1e6,
                                 launches[b].second * 1e6, {}});
    }
    grads_done[pu] = std::max(tied, free_at);
    out.dp_exposed_s += grads_done[pu] - tied;
  }

  // ---- loss and norm (world all-reduces every rank waits for), then the update ---------------
  const GroupSpan world_span{world, std::max(1, (world + dpn - 1) / dpn), std::min(world, dpn)};
  double sync = 0.0;
  for (int p = 0; p < pp; ++p) {
    const auto pu = static_cast<std::size_t>(p);
    sync = std::max(sync, grads_done[pu] + op_seconds(synthetic(OpKind::kSumSquares, shard[pu], 4, 2), dev, threads));
  }
  sync += 2.0 * collective_seconds(CommKind::kAllReduce, 8.0, world_span, net);
  for (int p = 0; p < pp; ++p) {
    const auto pu = static_cast<std::size_t>(p);
    StageResult& out = r.stages[pu];
    double t = op_seconds(synthetic(OpKind::kAdamwUpdate, shard[pu], 28, 14), dev, threads);
    if (zero == 1 || zero == 2) {
      double all = 0.0;
      for (const DpBucket& b : sdp[pu].buckets) all += static_cast<double>(b.padded);
      t += collective_seconds(CommKind::kAllGather, 4.0 * all, span_of(mesh, MeshAxis::kData, out.rank, dpn), net);
    }
    double copies = 0.0;
    for (int c : s.chunks_of(p)) copies += static_cast<double>(ops[static_cast<std::size_t>(c)]->compute_copy_elements);
    if (plan.compute_dtype != DType::kF32 && copies > 0)
      t += op_seconds(synthetic(OpKind::kConvert, copies, 6, 0), dev, threads);
    out.optimizer_s = t + (sync - grads_done[pu]);
    out.end_s = sync + t;
    r.step_time_s = std::max(r.step_time_s, out.end_s);
  }

  // ---- report -------------------------------------------------------------------------------
  const std::int64_t global = plan.samples_per_step();
  const double model_flops = plan.model.flops_per_step(global);
  double executed = 0.0, bubble = 0.0;
  for (const StageResult& st : r.stages) {
    executed += st.matmul_flops * mesh.tp() * dp;
    bubble += st.bubble_s;
    r.exposed_comm_s.tp = std::max(r.exposed_comm_s.tp, st.tp_comm_s);
    r.exposed_comm_s.pp = std::max(r.exposed_comm_s.pp, st.pp_transfer_s);
    r.exposed_comm_s.dp = std::max(r.exposed_comm_s.dp, st.dp_exposed_s);
    r.exposed_comm_s.embedding = std::max(r.exposed_comm_s.embedding, st.embedding_s);
  }
  r.tokens_per_s = static_cast<double>(global * plan.model.seq_len) / r.step_time_s;
  r.model_tflops_per_device = model_flops / r.step_time_s / world / 1e12;
  r.mfu = model_flops / r.step_time_s / world / peak;
  r.hfu = executed / r.step_time_s / world / peak;
  r.bubble_frac = bubble / pp / r.step_time_s;
  if (options.memory) r.memory = estimate_memory(plan, recorder, static_cast<std::int64_t>(dev.memory_bytes), &s);

  if (options.trace) {
    for (int p = 0; p < pp; ++p) {
      const auto pu = static_cast<std::size_t>(p);
      const StageResult& st = r.stages[pu];
      for (TraceEvent e : to_trace_events(tl.stages[pu].actions, 1e6)) {
        e.pid = st.rank;
        r.trace.push_back(std::move(e));
      }
      if (st.embedding_s > 0)
        r.trace.push_back({"embedding all_reduce", "comm", st.rank, 2, st.pipeline_s * 1e6, st.embedding_s * 1e6, {}});
      for (TraceEvent& e : dp_events[pu]) r.trace.push_back(std::move(e));
      r.trace.push_back({"optimizer step", "optimizer", st.rank, 0, (st.end_s - st.optimizer_s) * 1e6,
                         st.optimizer_s * 1e6, {}});
      const MeshCoord mc = mesh.coord(st.rank);
      r.trace_names.processes[st.rank] = "rank " + std::to_string(st.rank) + " (dp" + std::to_string(mc.dp) + " pp" +
                                         std::to_string(mc.pp) + " tp" + std::to_string(mc.tp) + ", simulated)";
      r.trace_names.threads[{st.rank, 0}] = "compute";
      r.trace_names.threads[{st.rank, 1}] = "pp comm";
      r.trace_names.threads[{st.rank, 2}] = "dp comm";
    }
  }
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return r;
}

}  // namespace trident
