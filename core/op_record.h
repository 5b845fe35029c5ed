// Recording the op table: which ops a piece of code executes, with their shapes, FLOPs and bytes.
//
// Two uses, one mechanism:
// - On a meta device (device.h) the op table does no work: running the real layer code on meta
//   tensors inside a ScopedOpRecording yields the exact op list of a forward or backward at any
//   model size, without the device it models. The simulator (experiments/sim/) costs that list.
// - On a real device, a ScopedOpRecording wraps the device's table: every op still runs and is
//   also recorded, so a test can hold the simulator's meta recording to what really executed.
//
// While a scope is alive, ops_for(device) on *this thread* returns the recording table (scopes
// nest; the innermost wins). Other threads and devices are unaffected. Every Ops entry is
// recorded: RecordingOps overrides each one, so a new entry in ops.h fails to compile here until
// it is recorded too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ops.h"

namespace trident {

// One value per Ops entry (device() and synchronize() do no work and are not recorded).
enum class OpKind : std::uint8_t {
  kFill, kCopy, kConvert,
  kGemm, kGemmBatched,
  kAdd, kAxpy, kScale, kSum, kSumSquares, kBiasAdd, kBiasBackward, kGeluForward, kGeluBackward, kBiasGeluForward,
  kLayerNormForward, kLayerNormBackwardInput, kLayerNormBackwardWeight, kAddLayerNormForward,
  kLayerNormBackwardInputAdd,
  kAttentionForward, kAttentionBackward, kAttentionCached,
  kEmbeddingForward, kEmbeddingBackward,
  kCrossEntropyRowMax, kCrossEntropySums, kCrossEntropyLosses, kCrossEntropyBackward, kCrossEntropyFused,
  kAdamwUpdate,
};
constexpr int kNumOpKinds = static_cast<int>(OpKind::kAdamwUpdate) + 1;
std::string_view op_kind_name(OpKind kind);  // "gemm", "layernorm_forward", …

// One executed op. `shape` is its main operand's shape, except for GEMMs, where it is
// {batch, m, n, k} (batch 1 for gemm). FLOPs count a multiply-add as 2; attention counts the causal
// core in full (4·B·S²·nh·hd forward, twice that backward), the convention of model-FLOPs
// formulas. `bytes` is every operand read once plus every output written once (accumulated outputs
// read and written), the traffic a memory-bound kernel cannot avoid.
struct OpRecord {
  OpKind kind = OpKind::kFill;
  DType dtype = DType::kF32;  // of the main operand (GEMMs: of a)
  Shape shape;
  bool trans_a = false, trans_b = false;  // GEMMs only
  double flops = 0.0;
  double bytes = 0.0;

  bool is_gemm() const { return kind == OpKind::kGemm || kind == OpKind::kGemmBatched; }
  std::string str() const;  // "gemm NT [1, 512, 768, 256] f32"
  friend bool operator==(const OpRecord&, const OpRecord&) = default;
};

// Receives the records of a scope, in execution order: record() before an op runs, finished()
// once it has returned (so a sink can time ops in place: `trident calibrate` does).
class OpSink {
 public:
  virtual ~OpSink() = default;
  virtual void record(const OpRecord& op) = 0;
  virtual void finished() {}
};

class ScopedOpRecording {
 public:
  // On this thread, until destruction, ops_for(device) records every op into `sink`; a real
  // device's ops still run, a meta device's do nothing.
  ScopedOpRecording(Device device, OpSink& sink);
  ~ScopedOpRecording();
  ScopedOpRecording(const ScopedOpRecording&) = delete;
  ScopedOpRecording& operator=(const ScopedOpRecording&) = delete;

 private:
  struct Impl;
  Impl* impl_;
};

namespace detail {
// For ops_for(): the recording table this thread has for `device`, or nullptr.
const Ops* recording_ops(Device device);
// For ops_for(): the table of a meta device outside any recording (does nothing, records nothing).
const Ops& meta_ops(Device device);
}  // namespace detail

}  // namespace trident
