// The narrow interface between the executor (which knows actions, not math) and what a pipeline
// rank computes. The GPT implements it (gpt_pipeline_stage.h); tests and benchmarks implement it
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
  // Returns chunk's output activation (undefined for the last chunk). `input` is undefined for
  // chunk 0, which reads its own micro-batch of tokens.
  virtual Tensor forward(int mb, int chunk, const Tensor& input) = 0;
  // Returns the gradient of chunk's input (undefined for chunk 0). `grad_output` is undefined for
  // the last chunk, whose loss seeds it.
  virtual Tensor backward_input(int mb, int chunk, const Tensor& grad_output) = 0;
  virtual void backward_weight(int mb, int chunk) = 0;
};

}  // namespace trident
