#include "core/shard_spec.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

namespace trident {

ShardSpec::ShardSpec(const Shape& full) : full_(full), ranges_(static_cast<std::size_t>(full.ndim())) {
  for (int d = 0; d < full.ndim(); ++d) ranges_[static_cast<std::size_t>(d)] = {IndexRange{0, full[d]}};
}

namespace {
std::int64_t total_length(const std::vector<IndexRange>& rs) {
  std::int64_t n = 0;
  for (const IndexRange& r : rs) n += r.length;
  return n;
}

// Keep local positions [begin, begin + length) of a concatenation of ranges.
std::vector<IndexRange> narrow(const std::vector<IndexRange>& rs, std::int64_t begin, std::int64_t length) {
  std::vector<IndexRange> out;
  std::int64_t pos = 0;
  for (const IndexRange& r : rs) {
    const std::int64_t lo = std::max(begin, pos), hi = std::min(begin + length, pos + r.length);
    if (lo < hi) out.push_back({r.begin + (lo - pos), hi - lo});
    pos += r.length;
  }
  return out;
}
}  // namespace

ShardSpec& ShardSpec::split(int dim, std::int64_t parts, std::int64_t index) {
  return split_blocks(dim, 1, parts, index);
}

ShardSpec& ShardSpec::split_blocks(int dim, std::int64_t blocks, std::int64_t parts, std::int64_t index) {
  TRIDENT_CHECK(dim >= 0 && dim < full_.ndim(), "shard dim ", dim, " is outside a tensor of shape ", full_.str());
  TRIDENT_CHECK(blocks >= 1 && parts >= 1 && index >= 0 && index < parts, "shard part ", index, " of ", parts,
                " in ", blocks, " block(s) is not a valid split");
  auto& rs = ranges_[static_cast<std::size_t>(dim)];
  const std::int64_t n = total_length(rs);
  TRIDENT_CHECK(n % (blocks * parts) == 0, "dim ", dim, " of extent ", n, " of a tensor of shape ", full_.str(),
                " does not split into ", blocks, " block(s) of ", parts, " equal parts");
  const std::int64_t block = n / blocks, part = block / parts;
  std::vector<IndexRange> out;
  for (std::int64_t b = 0; b < blocks; ++b)
    for (const IndexRange& r : narrow(rs, b * block + index * part, part)) out.push_back(r);
  rs = std::move(out);
  return *this;
}

Shape ShardSpec::local_shape() const {
  Shape s;
  for (const auto& rs : ranges_) s.push_back(total_length(rs));
  return s;
}

std::vector<std::int64_t> ShardSpec::full_indices() const {
  const int nd = full_.ndim();
  // Per dim: the full coordinate of each local coordinate, pre-multiplied by the full stride.
  std::vector<std::vector<std::int64_t>> offsets(static_cast<std::size_t>(nd));
  std::int64_t stride = 1;
  for (int d = nd - 1; d >= 0; --d) {
    auto& o = offsets[static_cast<std::size_t>(d)];
    for (const IndexRange& r : ranges_[static_cast<std::size_t>(d)])
      for (std::int64_t i = 0; i < r.length; ++i) o.push_back((r.begin + i) * stride);
    stride *= full_[d];
  }
  const Shape local = local_shape();
  std::vector<std::int64_t> out(static_cast<std::size_t>(local.numel()));
  if (out.empty()) return out;
  if (nd == 0) {
    out[0] = 0;
    return out;
  }
  // Odometer over all local dims but the last; the last is the inner loop.
  std::vector<std::int64_t> idx(static_cast<std::size_t>(nd), 0);
  const auto& inner = offsets[static_cast<std::size_t>(nd - 1)];
  std::size_t k = 0;
  while (true) {
    std::int64_t base = 0;
    for (int d = 0; d < nd - 1; ++d) base += offsets[static_cast<std::size_t>(d)][static_cast<std::size_t>(idx[static_cast<std::size_t>(d)])];
    for (std::int64_t off : inner) out[k++] = base + off;
    int d = nd - 2;
    for (; d >= 0; --d) {
      if (++idx[static_cast<std::size_t>(d)] < local[d]) break;
      idx[static_cast<std::size_t>(d)] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

std::string ShardSpec::str() const {
  std::string s = "full " + full_.str() + " ranges";
  for (const auto& rs : ranges_) {
    s += " {";
    for (std::size_t i = 0; i < rs.size(); ++i)
      s += (i ? "," : "") + std::to_string(rs[i].begin) + "+" + std::to_string(rs[i].length);
    s += "}";
  }
  return s;
}

namespace {
void check_host_f32(const Tensor& t, const char* what) {
  TRIDENT_CHECK(t.device().is_cpu() && t.dtype() == DType::kF32, what, " must be a host f32 tensor, got ",
                dtype_name(t.dtype()), " on ", t.device().str());
}
}  // namespace

Tensor extract_shard(const Tensor& full, const ShardSpec& spec) {
  check_host_f32(full, "extract_shard: full tensor");
  TRIDENT_CHECK(full.shape() == spec.full_shape(), "extract_shard: tensor ", full.shape().str(),
                " does not match spec ", spec.str());
  Tensor shard = Tensor::empty(spec.local_shape());
  const float* src = full.data<float>();
  float* dst = shard.data<float>();
  std::size_t k = 0;
  for (std::int64_t i : spec.full_indices()) dst[k++] = src[i];
  return shard;
}

void insert_shard(const Tensor& full, const Tensor& shard, const ShardSpec& spec) {
  check_host_f32(full, "insert_shard: full tensor");
  check_host_f32(shard, "insert_shard: shard");
  TRIDENT_CHECK(full.shape() == spec.full_shape() && shard.shape() == spec.local_shape(), "insert_shard: full ",
                full.shape().str(), " / shard ", shard.shape().str(), " do not match spec ", spec.str());
  float* dst = full.data<float>();
  const float* src = shard.data<float>();
  std::size_t k = 0;
  for (std::int64_t i : spec.full_indices()) dst[i] = src[k++];
}

void init_normal(const Tensor& shard, const ShardSpec& spec, std::uint64_t seed, std::string_view name, float mean,
                 float std) {
  TRIDENT_CHECK(shard.shape() == spec.local_shape(), "init_normal(", name, "): shard ", shard.shape().str(),
                " does not match spec ", spec.str());
  if (shard.device().is_meta()) return;  // no storage, no values to draw (core/device.h)
  const bool direct = shard.device().is_cpu() && shard.dtype() == DType::kF32;
  Tensor host = direct ? shard : Tensor::empty(shard.shape());
  const std::uint64_t key = rng_key(seed, name);
  float* p = host.data<float>();
  std::size_t k = 0;
  for (std::int64_t i : spec.full_indices())
    p[k++] = static_cast<float>(mean + std * rng_normal(key, static_cast<std::uint64_t>(i)));
  if (direct) return;
  if (shard.dtype() == DType::kF32) {
    shard.copy_from(host);
  } else {
    Tensor converted = Tensor::empty(shard.shape(), shard.dtype());
    ops_for(Device::cpu()).convert(host, converted);
    shard.copy_from(converted);
  }
}

void init_constant(const Tensor& shard, float value) { ops_for(shard.device()).fill(shard, value); }

}  // namespace trident
