#include "layers/parameter.h"

#include <algorithm>

#include "core/ops.h"

namespace trident {

Parameter::Parameter(std::string name, Shape full_shape, TpSplit split, Init init, bool weight_decay, int tp_size,
                     int tp_rank, Device device, std::int64_t valid_rows)
    : name_(std::move(name)),
      full_shape_(full_shape),
      split_(split),
      init_(init),
      weight_decay_(weight_decay),
      valid_rows_(valid_rows < 0 ? full_shape[0] : valid_rows),
      spec_(spec(tp_size, tp_rank)) {
  value = Tensor::empty(spec_.local_shape(), DType::kF32, device);
  grad = Tensor::zeros(spec_.local_shape(), DType::kF32, device);
}

void Parameter::set_compute_dtype(DType dtype) {
  if (dtype == value.dtype()) {
    compute_ = Tensor();
    return;
  }
  compute_ = Tensor::empty(value.shape(), dtype, value.device());
  refresh_compute_copy();
}

void Parameter::refresh_compute_copy() {
  // ZeRO-3 keeps no whole master between uses: the copy is refreshed when the master is gathered.
  if (compute_.defined() && value.defined()) ops_for(value.device()).convert(value, compute_);
}

Shape Parameter::export_shape() const {
  Shape s = full_shape_;
  s[0] = valid_rows_;
  return s;
}

ShardSpec Parameter::spec(int tp, int rank) const {
  ShardSpec s(full_shape_);
  if (split_.dim >= 0) {
    TRIDENT_CHECK(full_shape_[split_.dim] % (split_.blocks * tp) == 0, "parameter ", name_, " ", full_shape_.str(),
                  ": dim ", split_.dim, " of size ", full_shape_[split_.dim], " does not split into ", split_.blocks,
                  " block(s) over tp=", tp, " ranks; choose tp dividing it");
    s.split_blocks(split_.dim, split_.blocks, tp, rank);
  }
  return s;
}

void Parameter::initialize(std::uint64_t seed) {
  if (init_.kind == Init::Kind::kConstant) {
    init_constant(value, init_.value);
    return refresh_compute_copy();
  }
  init_normal(value, spec_, seed, name_, 0.0f, init_.value);
  if (valid_rows_ == full_shape_[0]) return refresh_compute_copy();
  // Zero the padding rows this shard holds (only dim-0 padding exists: the vocabulary).
  TRIDENT_CHECK(split_.dim <= 0, "parameter ", name_, ": padding rows need a dim-0 split or none");
  const std::int64_t row0 = spec_.ranges(0).front().begin, rows = value.dim(0);
  const std::int64_t first_pad = std::max<std::int64_t>(0, std::min(rows, valid_rows_ - row0));
  if (first_pad < rows) ops_for(value.device()).fill(value.slice0(first_pad, rows), 0.0f);
  refresh_compute_copy();
}

}  // namespace trident
