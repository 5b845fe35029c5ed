// A stage's data parallelism as trident lays it out: the real DataParallel (parallel/), built on a
// meta device over a standalone DP group of the layout's size, decides the buckets (its packing:
// by size, never across chunks, the tied wte alone) and reports the model-state bytes per rank of
// the ZeRO stage — so the simulator and the memory check use DataParallel's own layout, not a copy
// of its rules.
#pragma once

#include <cstdint>
#include <vector>

#include "core/allocator.h"
#include "experiments/sim/chunk_ops.h"
#include "parallel/data_parallel.h"
#include "schedules/schedule.h"

namespace trident {

// A tensor as data parallelism sees it on one rank.
struct DpTensorRef {
  int chunk = 0;
  int param = 0;  // index into ChunkOps::params
  std::int64_t elements = 0;
  bool wte = false;
};

struct DpBucket {
  std::vector<int> members;  // indices into StageDp::tensors
  std::int64_t padded = 0;   // elements (P), padded to a multiple of dp
};

struct StageDp {
  std::vector<DpTensorRef> tensors;  // the trainer's order
  std::vector<DpBucket> buckets;
  MemoryByKind model_state;          // DataParallel::model_state_bytes()
  std::int64_t largest_bucket = 0;   // elements
  std::int64_t tied_elements = 0;    // Σ P over the buckets of tied copies (each alone in its bucket)
};

// The trainer's DP order (Trainer::Trainer): the stage's parameters (chunks ascending, each in its
// parameters() order) without the wte copies, reversed — gradients become final from the last
// layer back — then the wte copies, which GradSync makes final only after the schedule.
std::vector<DpTensorRef> dp_order(const Schedule& s, int stage, const std::vector<const ChunkOps*>& chunks);

StageDp stage_dp(const Schedule& s, int stage, const std::vector<const ChunkOps*>& chunks, int dp,
                 const DataParallelOptions& options);

}  // namespace trident
