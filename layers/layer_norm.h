// LayerNorm over the hidden dim with affine weight and bias (eps 1e-5, GPT-2). Its parameters are
// replicated over TP; under sequence parallelism each TP rank normalises only its tokens, so its
// weight gradient is a partial sum (Parameter::grad_is_tp_partial).
#pragma once

#include "layers/parameter.h"
#include "layers/tensor_parallel.h"

namespace trident {

class LayerNorm {
 public:
  struct Saved {
    Tensor x;           // [n, h] input (owned by the producer of x)
    Tensor mean, rstd;  // [n]
    Tensor dout;        // [n, h] kept from backward_input for backward_weight
    template <typename F> void for_each(F&& f) const { f(x), f(mean), f(rstd), f(dout); }
  };

  LayerNorm(const std::string& name, std::int64_t hidden, float eps, const TensorParallel& tp, Device device);

  // x [n, h] -> out [n, h]
  Tensor forward(const Tensor& x, Saved& s) const;
  // The residual add before a pre-LN sublayer, fused: sum = a + b (written into a's storage, which
  // a's producer hands over), returns LayerNorm(sum); s.x is sum.
  Tensor forward_add(const Tensor& a, const Tensor& b, Tensor& sum, Saved& s) const;
  // dout [n, h] -> dx [n, h]
  Tensor backward_input(const Tensor& dout, Saved& s) const;
  // dx = dresidual + backward_input(dout): the gradient of a normalised activation that also feeds
  // a residual connection, in one pass.
  Tensor backward_input_add(const Tensor& dout, const Tensor& dresidual, Saved& s) const;
  void backward_weight(Saved& s);

  void collect(ParameterList& out) { out.push_back(&weight); out.push_back(&bias); }
  Parameter weight, bias;

 private:
  float eps_;
};

}  // namespace trident
