// Seconds for recorded work on a cluster (cluster.h).
//
// Ops (core/op_record.h):
//   GEMM            max(FLOPs / (peak[dtype] · gemm.efficiency(m, n, k)), bytes / (bw · memory_efficiency))
//   attention       max(FLOPs / (peak · attention_efficiency), bytes / (bw · memory_efficiency))
//                   + B·nh·S² scores · attention_score_bytes(_backward) / (bw · memory_efficiency)
//   everything else bytes / (bw · memory_efficiency)
// each divided by the op's op_efficiency multiplier (1 unless measured), plus op_overhead_s.
//
// Collectives (nccl-tests' conventions, bytes as CommRecord counts them, n ranks):
//   time = hops · latency + factor · bytes / bus_bandwidth
//   factor: all_reduce 2(n−1)/n; all_gather, reduce_scatter (n−1)/n; broadcast, send 1
//   hops:   ring: all_reduce 2(n−1), others n−1; tree: all_reduce 2·⌈log2 n⌉, broadcast ⌈log2 n⌉
// The tier is the one the group spans, from the mesh's rank placement (MeshLayout) and
// devices_per_node: a group inside one node uses the intra-node link at bandwidth · efficiency; a
// group across nodes is limited by the NICs: with g of its ranks per node, g NICs carry the node's
// share, so bus_bandwidth = min(intra, g · inter) (each × its efficiency). Measured collectives in
// the cluster file replace the link model for their kind.
#pragma once

#include <vector>

#include "experiments/sim/chunk_ops.h"
#include "experiments/sim/cluster.h"
#include "parallel/mesh_layout.h"

namespace trident {

enum class OpClass { kGemm, kAttention, kMemory };
OpClass op_class(OpKind kind);

// `threads` > 1 (CPU ranks with several BLAS / pool threads) divides by the op class's measured
// thread_speedup, interpolated linearly between 1 thread (speed-up 1) and `cores` threads.
double op_seconds(const OpRecord& op, const DeviceSpec& device, int threads = 1);

// Where a communication group sits: its size, and how many nodes it spans.
struct GroupSpan {
  int size = 1;
  int nodes = 1;
  int per_node = 1;  // ranks of the group on each node it touches (the most on any one)
};
GroupSpan span_of(const std::vector<int>& world_ranks, int devices_per_node);
GroupSpan span_of(const MeshLayout& mesh, MeshAxis axis, int world_rank, int devices_per_node);

double collective_seconds(CommKind kind, double bytes, const GroupSpan& span, const NetworkSpec& net);

// Seconds of a recorded action's items on the compute path: ops and blocking TP collectives.
struct ActionCost {
  double compute_s = 0.0;  // ops
  double tp_comm_s = 0.0;  // TP collectives (on the critical path)
  double total() const { return compute_s + tp_comm_s; }
};
ActionCost action_cost(const std::vector<WorkItem>& items, const DeviceSpec& device, const GroupSpan& tp_span,
                       const NetworkSpec& net, int threads = 1);
// Seconds from the start of `items` to each of its gradient-ready marks, by parameter index.
std::vector<std::pair<int, double>> grad_ready_offsets(const std::vector<WorkItem>& items, const DeviceSpec& device,
                                                       const GroupSpan& tp_span, const NetworkSpec& net,
                                                       int threads = 1);

}  // namespace trident
