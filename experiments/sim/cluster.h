// A cluster file: what the simulator knows about a machine. One file per system, the same constants
// for every model and layout run on it (experiments/sim/clusters/*.json; `trident calibrate` writes
// the one for the machine at hand).
//
//   {
//     "name": "a100", "description": "...",
//     "device": {
//       "kind": "gpu" | "cpu",
//       "peak_flops": {"bf16": 312e12, "f32": 19.5e12},   dense peak per compute dtype, FLOP/s
//       "memory_bytes": 85899345920, "memory_bandwidth": 2.039e12,   bytes, bytes/s
//       "gemm": {"max_efficiency": 0.8, "half_dim": 96,    efficiency curve (see GemmModel)
//                "table": [[m, n, k, efficiency, "NN"], ...]},   optional: measured points (calibrate)
//       "attention_efficiency": 0.5,      fraction of peak the attention core reaches
//       "attention_score_bytes": 0,       memory traffic per S×S score of an unfused attention
//       "attention_score_bytes_backward": 0,   the same in backward (default: twice the forward's)
//       "memory_efficiency": 0.8,         fraction of memory_bandwidth memory-bound ops reach
//       "op_efficiency": {"layernorm_forward": [[bytes, eff], ...], ...},  optional measured tables
//                                         per op (calibrate); see DeviceSpec::op_efficiency
//       "op_overhead_s": 4e-6,            fixed cost per op (kernel launch, loop set-up)
//       "cores": 2, "thread_speedup": {"gemm": 1.9, "memory": 1.4}   cpu only: see CpuSharing
//     },
//     "network": {
//       "devices_per_node": 8,
//       "intra_node": {"bandwidth": 300e9, "latency_s": 2e-6, "efficiency": 0.7},
//       "inter_node": {"bandwidth": 25e9, "latency_s": 5e-6, "efficiency": 0.9},
//       "algorithm": "ring" | "tree",     all-reduce latency: 2(n-1) hops (ring) or 2 log2 n (tree)
//       "receive_holds_stage": false      a pipeline receive holds its stage for the transfer
//     }
//   }
//
// A tier may carry measured collectives instead of the link model:
//   "collectives": {"all_reduce": {"bus_bandwidth": 6e9, "latency_s": 2e-5}, ...}
// Bandwidths are per device and per direction. Every field is checked when the file is read;
// a bad one is an error naming the file, the field and the fix.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/op_record.h"
#include "parallel/recording_communicator.h"

namespace trident {

// GEMM efficiency (fraction of the dtype's peak) by shape. Without a table, the documented curve
//   eff(m, n, k) = max_efficiency · Π_{d ∈ m, n, k} d / (d + half_dim)
// (a dimension of half_dim reaches half the efficiency it could: tile and wave quantisation on
// GPUs, blocking overheads on CPUs). With a measured table (rows [m, n, k, efficiency] or
// [m, n, k, efficiency, "NT"] naming the transposes of a and b), the efficiency of the nearest
// measured shapes of the same transposes (inverse-distance weights in log2 space over (m, n, k)),
// each carried to the asked shape by the curve's ratio; an exact match is returned as measured.
struct GemmModel {
  struct Point {
    double m = 1, n = 1, k = 1, efficiency = 1;
    std::string trans;  // "NN", "NT", "TN", "TT", or "" for any
  };
  double max_efficiency = 0.7;
  double half_dim = 64.0;
  std::vector<Point> table;

  double curve(double m, double n, double k) const;
  double efficiency(double m, double n, double k, bool trans_a = false, bool trans_b = false) const;
};

// An efficiency that depends on an op's size (bytes for memory-bound ops, FLOPs for attention):
// points (size, efficiency) interpolated linearly in log2(size), constant beyond the ends. A
// single number in the file is a table of one point.
struct SizeTable {
  std::vector<std::pair<double, double>> points;  // ascending size
  double at(double size) const;
};

struct DeviceSpec {
  enum class Kind { kGpu, kCpu } kind = Kind::kGpu;
  std::map<std::string, double> peak_flops;  // by dtype name: "bf16", "f32"
  double memory_bytes = 0.0;
  double memory_bandwidth = 0.0;
  GemmModel gemm;
  double attention_efficiency = 0.5;
  // Bytes moved per attention score (query-key pair) by an attention that materialises the S×S
  // scores, forward and backward: 0 for a fused (flash) kernel; Megatron-LM's unfused softmax +
  // dropout of 2022-23 (the kernels of the published runs) moves 13 forward and 19 backward
  // (clusters/a100.json counts them kernel by kernel). A file without the backward's gets twice the
  // forward's.
  double attention_score_bytes = 0.0;
  double attention_score_bytes_backward = 0.0;
  double memory_efficiency = 0.8;
  // By op_kind_name. A kind with a table is costed by the table alone: attention as
  // FLOPs / (peak · table(FLOPs)), other ops as bytes / (memory_bandwidth · table(bytes)).
  std::map<std::string, SizeTable> op_efficiency;
  double op_overhead_s = 0.0;
  // CPU ranks share the node's cores (CpuSharing in timeline.h): `cores`, and the speed-up of an
  // op class when a rank runs `cores` threads instead of one ("gemm", "memory", "attention").
  int cores = 0;
  std::map<std::string, double> thread_speedup;

  double peak(DType dtype) const;  // throws naming the dtype when the file has no peak for it
  const SizeTable* op_table(OpKind kind) const;  // null when the file has none for the kind
};

// One interconnect tier: the link a group uses when it stays inside a node (intra) or spans nodes.
struct LinkSpec {
  double bandwidth = 0.0;  // bytes/s per device per direction
  double latency_s = 0.0;  // per hop
  double efficiency = 1.0;
  struct Measured {
    double bus_bandwidth = 0.0;  // nccl-tests' busbw, bytes/s
    double latency_s = 0.0;      // whole operation
  };
  std::map<CommKind, Measured> collectives;  // optional measured collectives (calibrate)
};

struct NetworkSpec {
  int devices_per_node = 1;
  LinkSpec intra_node, inter_node;
  enum class Algorithm { kRing, kTree } algorithm = Algorithm::kRing;
  // Whether a pipeline receive holds its stage for the transfer (MPI progressing only inside the
  // receiver's wait; blocking p2p) or the transfer lands on its own while the stage computes
  // (receives posted ahead on a communication stream). timeline.h's recv_hold_s.
  bool receive_holds_stage = false;
};

struct ClusterSpec {
  std::string name, description;
  std::string source;  // the file it came from
  DeviceSpec device;
  NetworkSpec network;
};

// The shipped cluster names, resolved under experiments/sim/clusters/ of the source tree.
std::vector<std::string> shipped_cluster_names();
// Where shipped cluster files live (the source tree's experiments/sim/clusters).
std::string shipped_cluster_dir();
// A shipped name ("a100", "h100", "h200", "cpu") or a path to a JSON file.
ClusterSpec load_cluster(const std::string& name_or_path);
// Parses and checks a cluster document; `source` names it in errors.
ClusterSpec parse_cluster(const nlohmann::json& doc, const std::string& source);
nlohmann::json to_json(const ClusterSpec& cluster);

}  // namespace trident
