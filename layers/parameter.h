// A model parameter as one rank holds it: its local shard, its gradient, and where that shard sits
// in the full GPT-2 tensor. Initial values are drawn per element of the *full* tensor (core/rng.h),
// so every layout's shards are slices of one model.
#pragma once

#include <string>
#include <vector>

#include "core/shard_spec.h"
#include "core/tensor.h"

namespace trident {

// How the tensor-parallel group splits a parameter.
struct TpSplit {
  int dim = -1;             // -1: replicated on every TP rank
  std::int64_t blocks = 1;  // split each of `blocks` equal blocks of `dim` (3 for the fused QKV)

  static TpSplit replicated() { return {}; }
  static TpSplit along(int dim, std::int64_t blocks = 1) { return {dim, blocks}; }
};

struct Init {
  enum class Kind { kNormal, kConstant } kind = Kind::kConstant;
  float value = 0.0f;  // std for kNormal (mean 0), the value for kConstant

  static Init normal(float std) { return {Kind::kNormal, std}; }
  static Init constant(float v) { return {Kind::kConstant, v}; }
};

class Parameter {
 public:
  // `full_shape` may carry TP padding along dim 0 (the vocabulary); rows at or past `valid_rows`
  // are padding: zero-initialised, never exported, never counted.
  Parameter(std::string name, Shape full_shape, TpSplit split, Init init, bool weight_decay, int tp_size, int tp_rank,
            Device device, std::int64_t valid_rows = -1);

  const std::string& name() const { return name_; }
  const Shape& full_shape() const { return full_shape_; }
  // The GPT-2 shape: full_shape with padding rows removed.
  Shape export_shape() const;
  TpSplit split() const { return split_; }
  bool replicated() const { return split_.dim < 0; }
  bool weight_decay() const { return weight_decay_; }
  std::int64_t valid_rows() const { return valid_rows_; }

  // Where TP rank `rank` of `tp` ranks holds its shard.
  ShardSpec spec(int tp, int rank) const;
  const ShardSpec& spec() const { return spec_; }

  // (Re)draw the initial values of this shard from (seed, name, full index).
  void initialize(std::uint64_t seed);

  // Replicated across TP, but each TP rank's gradient is a partial sum (sequence parallelism
  // splits the tokens): the gradient is all-reduced over TP before it is used.
  bool grad_is_tp_partial = false;

  Tensor value;  // local shard, spec().local_shape(); the f32 master
  Tensor grad;   // same shape, f32; accumulated by backward, zeroed by the optimizer step

  // Mixed precision: GEMMs read a copy of the master rounded to the compute dtype (bf16 on GPUs),
  // so activations and weights meet in one dtype while the optimizer updates f32. The copy is made
  // here and re-rounded by refresh_compute_copy() after every change of `value` (initialisation,
  // optimizer step, checkpoint load). A compute dtype equal to value's drops the copy.
  void set_compute_dtype(DType dtype);
  void refresh_compute_copy();
  // What a GEMM reads: the compute copy when there is one, else the master itself.
  const Tensor& for_compute() const { return compute_.defined() ? compute_ : value; }

 private:
  Tensor compute_;
  std::string name_;
  Shape full_shape_;
  TpSplit split_;
  Init init_;
  bool weight_decay_;
  std::int64_t valid_rows_;
  ShardSpec spec_;
};

using ParameterList = std::vector<Parameter*>;

}  // namespace trident
