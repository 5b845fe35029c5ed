#include "experiments/sim/cost_model.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace trident {

OpClass op_class(OpKind kind) {
  switch (kind) {
    case OpKind::kGemm:
    case OpKind::kGemmBatched: return OpClass::kGemm;
    case OpKind::kAttentionForward:
    case OpKind::kAttentionBackward:
    case OpKind::kAttentionCached: return OpClass::kAttention;
    default: return OpClass::kMemory;
  }
}

namespace {
const char* class_name(OpClass c) {
  switch (c) {
    case OpClass::kGemm: return "gemm";
    case OpClass::kAttention: return "attention";
    case OpClass::kMemory: return "memory";
  }
  return "memory";
}

double thread_factor(OpClass c, const DeviceSpec& d, int threads) {
  if (threads <= 1 || d.cores <= 1) return 1.0;
  auto it = d.thread_speedup.find(class_name(c));
  const double full = it == d.thread_speedup.end() ? 1.0 : it->second;
  const double t = std::min(threads, d.cores);
  return 1.0 + (full - 1.0) * (t - 1.0) / (d.cores - 1.0);
}
}  // namespace

double op_seconds(const OpRecord& op, const DeviceSpec& d, int threads) {
  const OpClass cls = op_class(op.kind);
  const double speed = thread_factor(cls, d, threads);
  if (const SizeTable* t = d.op_table(op.kind)) {
    const double s = cls == OpClass::kMemory ? op.bytes / (d.memory_bandwidth * t->at(op.bytes))
                                             : op.flops / (d.peak(op.dtype) * t->at(op.flops));
    return s / speed + d.op_overhead_s;
  }
  const double memory_s = op.bytes / (d.memory_bandwidth * d.memory_efficiency);
  double s = memory_s;
  if (cls == OpClass::kGemm) {
    const double eff = d.gemm.efficiency(static_cast<double>(op.shape[1]), static_cast<double>(op.shape[2]),
                                         static_cast<double>(op.shape[3]), op.trans_a, op.trans_b);
    s = std::max(op.flops / (d.peak(op.dtype) * eff), memory_s);
  } else if (cls == OpClass::kAttention) {
    s = std::max(op.flops / (d.peak(op.dtype) * d.attention_efficiency), memory_s);
    const double per_score = op.kind == OpKind::kAttentionBackward ? d.attention_score_bytes_backward
                             : op.kind == OpKind::kAttentionForward  ? d.attention_score_bytes
                                                                     : 0.0;
    if (per_score > 0) {
      // qkv [B, S, 3, nh, hd]: B·nh·S² scores, passed over by separate memory-bound kernels.
      const double scores = static_cast<double>(op.shape[0]) * static_cast<double>(op.shape[3]) *
                            static_cast<double>(op.shape[1]) * static_cast<double>(op.shape[1]);
      s += scores * per_score / (d.memory_bandwidth * d.memory_efficiency);
    }
  }
  return s / speed + d.op_overhead_s;
}

GroupSpan span_of(const std::vector<int>& ranks, int devices_per_node) {
  GroupSpan g;
  g.size = static_cast<int>(ranks.size());
  std::map<int, int> per_node;
  for (int r : ranks) ++per_node[r / devices_per_node];
  g.nodes = static_cast<int>(per_node.size());
  g.per_node = 0;
  for (const auto& [node, count] : per_node) g.per_node = std::max(g.per_node, count);
  return g;
}

GroupSpan span_of(const MeshLayout& mesh, MeshAxis axis, int world_rank, int devices_per_node) {
  return span_of(mesh.group(axis, world_rank), devices_per_node);
}

namespace {

double bus_factor(CommKind kind, double n) {
  switch (kind) {
    case CommKind::kAllReduce: return 2.0 * (n - 1.0) / n;
    case CommKind::kAllGather:
    case CommKind::kReduceScatter: return (n - 1.0) / n;
    case CommKind::kBarrier: return 0.0;
    default: return 1.0;  // broadcast, send, recv
  }
}

double hops(CommKind kind, double n, NetworkSpec::Algorithm alg) {
  const double log_n = std::ceil(std::log2(n));
  const bool tree = alg == NetworkSpec::Algorithm::kTree;
  switch (kind) {
    case CommKind::kAllReduce: return tree ? 2.0 * log_n : 2.0 * (n - 1.0);
    case CommKind::kBroadcast:
    case CommKind::kBarrier: return tree ? log_n : n - 1.0;
    case CommKind::kSend:
    case CommKind::kRecv: return 1.0;
    default: return n - 1.0;
  }
}

}  // namespace

double collective_seconds(CommKind kind, double bytes, const GroupSpan& span, const NetworkSpec& net) {
  if (span.size <= 1) return 0.0;
  const double n = span.size;
  const bool across = span.nodes > 1;
  const LinkSpec& link = across ? net.inter_node : net.intra_node;
  const CommKind key = kind == CommKind::kRecv ? CommKind::kSend : kind;
  if (auto it = link.collectives.find(key); it != link.collectives.end())
    return it->second.latency_s + bus_factor(kind, n) * bytes / it->second.bus_bandwidth;
  double bw = link.bandwidth * link.efficiency;
  if (across) bw = std::min(net.intra_node.bandwidth * net.intra_node.efficiency, bw * span.per_node);
  return hops(kind, n, net.algorithm) * link.latency_s + bus_factor(kind, n) * bytes / bw;
}

ActionCost action_cost(const std::vector<WorkItem>& items, const DeviceSpec& device, const GroupSpan& tp_span,
                       const NetworkSpec& net, int threads) {
  ActionCost c;
  for (const WorkItem& w : items) {
    if (w.kind == WorkItem::Kind::kOp) c.compute_s += op_seconds(w.op, device, threads);
    else if (w.kind == WorkItem::Kind::kComm)
      c.tp_comm_s += collective_seconds(w.comm.kind, static_cast<double>(w.comm.bytes), tp_span, net);
  }
  return c;
}

std::vector<std::pair<int, double>> grad_ready_offsets(const std::vector<WorkItem>& items, const DeviceSpec& device,
                                                       const GroupSpan& tp_span, const NetworkSpec& net, int threads) {
  std::vector<std::pair<int, double>> out;
  double t = 0.0;
  for (const WorkItem& w : items) {
    if (w.kind == WorkItem::Kind::kOp) t += op_seconds(w.op, device, threads);
    else if (w.kind == WorkItem::Kind::kComm)
      t += collective_seconds(w.comm.kind, static_cast<double>(w.comm.bytes), tp_span, net);
    else out.emplace_back(w.param, t);
  }
  return out;
}

}  // namespace trident
