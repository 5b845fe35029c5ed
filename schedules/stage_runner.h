// The narrow interface between the executor (which knows actions, not math) and what a pipeline
// stage computes. The GPT implements it (gpt_pipeline_stage.h); tests and benchmarks implement it
// with stand-ins, so the executor's own cost can be measured apart from any model.
#pragma once

#include "core/shape.h"
#include "core/tensor.h"

namespace trident {

class StageRunner {
 public:
  virtual ~StageRunner() = default;
  // Shape of the activation entering global chunk `chunk` (and of the gradient leaving it): the
  // executor allocates receive buffers of this shape.
  virtual Shape boundary_shape(int chunk) const = 0;
  // Where and in what dtype those buffers live (the stage's device and activation dtype).
  virtual Device boundary_device() const { return Device::cpu(); }
  virtual DType boundary_dtype() const { return DType::kF32; }
  // Returns chunk's output activation (undefined for the last chunk). `input` is undefined for
  // chunk 0, which reads its own micro-batch of tokens.
  virtual Tensor forward(int mb, int chunk, const Tensor& input) = 0;
  // Returns the gradient of chunk's input (undefined for chunk 0). `grad_output` is undefined for
  // the last chunk, whose loss seeds it.
  virtual Tensor backward_input(int mb, int chunk, const Tensor& grad_output) = 0;
  virtual void backward_weight(int mb, int chunk) = 0;
  // Blocks until the stage's device has finished the work issued so far (a no-op on the host),
  // so the executor's per-action times are device times.
  virtual void synchronize() {}
};

}  // namespace trident
