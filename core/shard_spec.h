// Where a shard sits in its full tensor.
//
// Along each dim, a shard takes a concatenation of ranges of the full tensor's indices; the shard
// is the Cartesian product over dims. That covers every layout trident uses:
//   - whole tensor (replicated parameters),
//   - an even contiguous split along one dim (row- and column-parallel linears, vocab shards),
//   - a split of each of several equal blocks (the fused QKV weight [h, 3h]: a rank holds its
//     heads of q, of k and of v, i.e. three ranges of columns).
// The same spec initialises a shard (rng), extracts it from a full tensor, and writes it back
// into a full tensor (gathering gradients or checkpoints to the full shape).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/tensor.h"

namespace trident {

struct IndexRange {
  std::int64_t begin = 0;
  std::int64_t length = 0;
  friend bool operator==(const IndexRange&, const IndexRange&) = default;
};

class ShardSpec {
 public:
  // The whole tensor of shape `full`.
  explicit ShardSpec(const Shape& full);

  // Narrow dim `dim` to part `index` of `parts` equal contiguous parts (of what it holds now).
  ShardSpec& split(int dim, std::int64_t parts, std::int64_t index);
  // Treat dim `dim` as `blocks` equal blocks and keep part `index` of `parts` of each block, in
  // block order: split_blocks(1, 3, tp, r) gives a rank its q, k and v columns.
  ShardSpec& split_blocks(int dim, std::int64_t blocks, std::int64_t parts, std::int64_t index);

  const Shape& full_shape() const { return full_; }
  Shape local_shape() const;
  const std::vector<IndexRange>& ranges(int dim) const { return ranges_[static_cast<std::size_t>(dim)]; }
  bool is_whole() const { return local_shape() == full_; }

  // Flat index into the full tensor of every local element, in local row-major order.
  std::vector<std::int64_t> full_indices() const;

  std::string str() const;

 private:
  Shape full_;
  std::vector<std::vector<IndexRange>> ranges_;
};

// The shard of `full` (host f32 tensor of spec.full_shape()) described by `spec`, as a new tensor.
Tensor extract_shard(const Tensor& full, const ShardSpec& spec);
// full[spec] = shard (inverse of extract_shard).
void insert_shard(const Tensor& full, const Tensor& shard, const ShardSpec& spec);

// Initialise a shard in place: element e gets value(full flat index of e). Works on host f32
// tensors; device tensors are initialised on the host and copied.
void init_normal(const Tensor& shard, const ShardSpec& spec, std::uint64_t seed, std::string_view name,
                 float mean, float std);
void init_constant(const Tensor& shard, float value);

}  // namespace trident
