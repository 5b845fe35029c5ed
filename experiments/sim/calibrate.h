// `trident calibrate`: measures the CPU machine at hand into a cluster file (clusters/cpu.json).
//
// What it measures, on every rank at once (so each measurement sees the contention of a run that
// uses all the ranks), with the threads the launcher gave each rank:
//   ops in place   the real layer code (GptChunk forward, backward-input, backward-weight) of the
//                  given models and layouts on the CPU op table, each op timed as it runs inside
//                  the step (core/op_record.h's sink): GEMMs by shape and transposes, attention by
//                  FLOPs, every memory-bound op by bytes. AdamW, norms and casts on buffers of
//                  several sizes. A grid of GEMM shapes beyond the models'.
//   threads        rank 0 alone, one thread vs all cores (alternated): the speed-up per op class
//                  (gemm, attention, memory) that a rank owning several cores gets, capped at the
//                  core count.
//   overhead       an action's wall time minus its ops' time, per op: the framework's own cost.
//   network        all_reduce, all_gather, reduce_scatter and send/recv from 4 KiB to 64 MiB,
//                  least-squares fitted to latency + factor · bytes / bus_bandwidth (nccl-tests'
//                  factors, cost_model.h).
// Efficiencies are measured rates over the peak (the best GEMM rate seen) or over the memory
// bandwidth (the best memory-bound rate seen, usually an op whose operands stay in cache), so
// every table entry is <= 1 by construction and the two references are this machine's best.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/sim/cluster.h"
#include "layers/gpt_config.h"
#include "parallel/communicator.h"

namespace trident {

struct CalibrationOptions {
  // Models whose op shapes are measured in place, with their micro-batch sizes.
  std::vector<std::pair<GptConfig, std::vector<std::int64_t>>> models;
  std::vector<int> tp_sizes = {1, 2};  // TP layouts (sequence parallelism on and off for tp > 1)
  int repeats = 5;                     // timed repetitions of each chunk action
  bool gemm_grid = true;
};

// The default: the mini model (micro-batches 1, 2, 4) and a wider one-block model for larger ops.
CalibrationOptions default_calibration();

// Collective over `world` (at least 2 ranks, for the network). Rank 0 returns the cluster; the
// others return it too (identical). `progress` receives lines to show (rank 0 prints them).
ClusterSpec calibrate_cpu(Communicator& world, const CalibrationOptions& options,
                          const std::function<void(const std::string&)>& progress);

}  // namespace trident
