// Memory per pipeline stage of a plan: the one model behind both the simulator's report and the
// trainer's check before it allocates anything.
//
// Activations come from the layer code itself (ChunkOps: what GptChunk stashes per micro-batch and
// its working memory per action, on a meta device), replayed over the stage's action list in order:
// a forward adds its chunk's stash, an I keeps what W still needs, a W or B frees it; the peak
// counts the running action's working memory on top. The executor's buffers are counted as
// communication: every tensor a stage sends is held until its step ends (PipelineExecutor keeps
// sent tensors alive until then), and up to ExecutorOptions::prefetch_receives receive buffers are
// posted ahead.
//
// Model states are what DataParallel (parallel/data_parallel.h) keeps for the rank's parameters
// at the plan's ZeRO stage — built on a meta device (dp_model.h), so its table is the one used:
// f32 weights, gradients and AdamW moments of 16Ψ bytes (plain), 8Ψ + 8Ψ/N (ZeRO-1), 4Ψ + 12Ψ/N
// (ZeRO-2), 16Ψ/N (ZeRO-3) — plus the bf16 copies of the GEMM weights under mixed precision (2Ψc)
// and, under ZeRO-2/3, the transient bucket buffers (one micro-batch's gradients of the bucket
// accumulating, of those being reduce-scattered (at most the largest bucket's size), and of the
// tied copies; ZeRO-3's gathered parameters, in use and prefetched) as communication.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/plan/plan.h"
#include "experiments/sim/chunk_ops.h"

namespace trident {

struct MemoryBreakdown {
  std::int64_t weights = 0, gradients = 0, optimizer_state = 0, activations = 0, communication = 0;
  std::int64_t total() const { return weights + gradients + optimizer_state + activations + communication; }
  // The largest term and its name ("activations", …).
  std::pair<std::string, std::int64_t> biggest() const;
};

struct MemoryEstimate {
  std::vector<MemoryBreakdown> stages;  // per pipeline stage (every rank of a stage alike)
  std::int64_t capacity_bytes = 0;      // per device; 0 = unknown (fits() is then true)
  int worst_stage() const;
  std::int64_t peak_bytes() const;
  bool fits() const { return capacity_bytes <= 0 || peak_bytes() <= capacity_bytes; }
  // One line: the worst stage, its biggest term and the knobs that shrink it (for errors).
  std::string advice() const;
};

// `recorder` must have been made for `plan` (chunk_context(plan, device)): the simulator shares
// one with its timing model. `capacity_bytes`: the device's memory, 0 if unknown.
// `schedule`: the action lists to replay when they are not the plan's own (the simulator rebuilds
// cost-aware schedules from its costs).
MemoryEstimate estimate_memory(const TrainPlan& plan, ChunkRecorder& recorder, std::int64_t capacity_bytes = 0,
                               const Schedule* schedule = nullptr);
// The trainer's check: records the plan's chunks on a meta device modelling `device`.
MemoryEstimate estimate_memory(const TrainPlan& plan, DeviceType device, std::int64_t capacity_bytes = 0);

// What a chunk recording of `plan` depends on, for a device of type `device`.
ChunkContext chunk_context(const TrainPlan& plan, DeviceType device);

std::string format_bytes(double bytes);  // "1.50 GiB"

}  // namespace trident
