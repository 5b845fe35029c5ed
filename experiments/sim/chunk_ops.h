// What one chunk does for one micro-batch, learned from the layer code itself.
//
// record_chunk() builds the real GptChunk (layers/) on a meta device (core/device.h) with a
// standalone recording TP group of the layout's size (parallel/recording_communicator.h), runs its
// forward, backward-input and backward-weight once inside a ScopedOpRecording (core/op_record.h),
// and keeps, in execution order, every op (shapes, FLOPs, bytes), every TP collective (bytes,
// group size) and every point where a parameter's gradient takes the micro-batch (the hook data
// parallelism starts its buckets from). The meta allocator's byte counts give what the chunk keeps
// between its actions (the stash) and its working memory within each. Nothing here restates a
// layer's formulas: change a layer and the recording changes with it.
//
// The simulator's representative is TP rank 0 (its list is the longest: the position table is
// added on rank 0 only); tests record other ranks too.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/op_record.h"
#include "layers/gpt_config.h"
#include "layers/tensor_parallel.h"
#include "parallel/recording_communicator.h"

namespace trident {

// One entry of an action's recorded work.
struct WorkItem {
  enum class Kind : std::uint8_t { kOp, kComm, kGradReady } kind = Kind::kOp;
  OpRecord op;      // kOp
  CommRecord comm;  // kComm (TP collectives, blocking, on the compute path)
  int param = -1;   // kGradReady: index into ChunkOps::params
};

struct ChunkParam {
  std::string name;
  std::int64_t elements = 0;   // of this rank's shard
  bool tp_partial = false;     // all-reduced over TP once final (sequence parallelism)
  bool tied_copy = false;      // the last chunk's own copy of wte
  bool compute_copy = false;   // has a compute-dtype copy (bf16 GEMM weight)
};

struct ChunkOps {
  std::vector<WorkItem> forward, backward_input, backward_weight;
  std::vector<ChunkParam> params;  // in the chunk's parameters() order
  // Bytes kept for one micro-batch from the end of F to its I, and from I to W (by the layers'
  // own stash accounting, GptChunk::stashed_bytes).
  std::int64_t stash_forward = 0, stash_input = 0;
  // Working memory above what is held when the action starts (allocator peak − start).
  std::int64_t work_forward = 0, work_input = 0, work_weight = 0;
  std::int64_t boundary_bytes = 0;  // the activation a chunk hands on (and the gradient it gets back)
  std::int64_t param_elements = 0;  // this rank's parameter elements (each tensor once)
  std::int64_t compute_copy_elements = 0;

  // Sums over a list: FLOPs of GEMMs and attention (the "hardware" FLOPs), and all ops' FLOPs.
  static double matmul_flops(const std::vector<WorkItem>& items);
};

// What a chunk recording depends on besides the chunk's blocks.
struct ChunkContext {
  GptConfig model;
  int tp = 1;
  int tp_rank = 0;  // the representative (rank 0's list is the longest)
  TensorParallelOptions options;
  std::int64_t micro_batch_size = 1;
  DType compute_dtype = DType::kF32;
  DeviceType device = DeviceType::kCPU;  // the modelled device type (attention's saved shape)
};

// Records chunks on demand and keeps them: a pipeline's chunks differ only by block count and by
// holding the embedding or the head, so a stage (or a search) records each kind once.
class ChunkRecorder {
 public:
  explicit ChunkRecorder(ChunkContext context) : context_(std::move(context)) {}
  const ChunkContext& context() const { return context_; }
  // A chunk of `layers` blocks, with the embedding (first chunk) and/or the head (last chunk).
  const ChunkOps& get(std::int64_t layers, bool embedding, bool head);

 private:
  ChunkContext context_;
  std::map<std::tuple<std::int64_t, bool, bool>, std::unique_ptr<ChunkOps>> cache_;
};

ChunkOps record_chunk(const ChunkContext& context, std::int64_t layers, bool embedding, bool head);

}  // namespace trident
