#include "parallel/mesh_layout.h"

#include <optional>

#include "core/error.h"

namespace trident {

std::string_view mesh_axis_name(MeshAxis axis) {
  switch (axis) {
    case MeshAxis::kData: return "dp";
    case MeshAxis::kPipeline: return "pp";
    case MeshAxis::kTensor: return "tp";
  }
  return "?";
}

namespace {

constexpr const char* kOrderHint = "use a permutation of tp, pp, dp such as tp-pp-dp";

std::size_t index(MeshAxis a) { return static_cast<std::size_t>(a); }

std::optional<MeshAxis> parse_axis(std::string_view token) {
  for (MeshAxis a : kMeshAxes)
    if (token == mesh_axis_name(a)) return a;
  return std::nullopt;
}

// "tp-pp-dp" -> {tp, pp, dp}; every axis exactly once.
std::array<MeshAxis, 3> parse_order(std::string_view order) {
  std::array<MeshAxis, 3> axes{};
  std::array<bool, 3> seen{};
  std::size_t count = 0;
  std::size_t pos = 0;
  while (true) {
    const std::size_t dash = order.find('-', pos);
    const std::string_view token = order.substr(pos, dash == std::string_view::npos ? dash : dash - pos);
    const std::optional<MeshAxis> axis = parse_axis(token);
    TRIDENT_CHECK(axis.has_value(), "unknown axis '", token, "' in mesh order '", order, "': ", kOrderHint);
    TRIDENT_CHECK(!seen[index(*axis)], "axis '", token, "' appears more than once in mesh order '", order, "': ",
                  kOrderHint);
    seen[index(*axis)] = true;
    axes[count++] = *axis;  // count < 3 here: a fourth token must repeat an axis and failed above
    if (dash == std::string_view::npos) break;
    pos = dash + 1;
  }
  for (MeshAxis a : kMeshAxes)
    TRIDENT_CHECK(seen[index(a)], "mesh order '", order, "' is missing axis '", mesh_axis_name(a), "': ",
                  kOrderHint);
  return axes;
}

}  // namespace

MeshLayout::MeshLayout(int dp, int pp, int tp, std::string_view order) {
  sizes_[index(MeshAxis::kData)] = dp;
  sizes_[index(MeshAxis::kPipeline)] = pp;
  sizes_[index(MeshAxis::kTensor)] = tp;
  for (MeshAxis a : kMeshAxes)
    TRIDENT_CHECK(size(a) >= 1, "mesh size ", mesh_axis_name(a), "=", size(a), " must be at least 1 (",
                  mesh_axis_name(a), "=1 turns that form of parallelism off)");
  axis_order_ = parse_order(order);
  order_.clear();
  int stride = 1;
  for (MeshAxis a : axis_order_) {
    strides_[index(a)] = stride;
    stride *= size(a);
    order_ += (order_.empty() ? "" : "-") + std::string(mesh_axis_name(a));
  }
}

void MeshLayout::check_world_size(int world_size) const {
  TRIDENT_CHECK(world_size == this->world_size(), "world size ", world_size, " does not equal dp*pp*tp = ", dp(),
                "*", pp(), "*", tp(), " = ", this->world_size(), ": launch with mpirun -np ", this->world_size(),
                ", or change the sizes (--dp, --pp, --tp) so that their product is ", world_size);
}

MeshCoord MeshLayout::coord(int world_rank) const {
  TRIDENT_CHECK(0 <= world_rank && world_rank < world_size(), "rank ", world_rank, " is outside the mesh ", str(),
                " of ", world_size(), " ranks");
  MeshCoord c;
  for (MeshAxis a : kMeshAxes) c[a] = world_rank / stride(a) % size(a);
  return c;
}

int MeshLayout::rank(const MeshCoord& c) const {
  int r = 0;
  for (MeshAxis a : kMeshAxes) {
    TRIDENT_CHECK(0 <= c[a] && c[a] < size(a), "coordinate ", mesh_axis_name(a), "=", c[a], " is outside the mesh ",
                  str());
    r += c[a] * stride(a);
  }
  return r;
}

std::vector<int> MeshLayout::group(MeshAxis axis, int world_rank) const {
  MeshCoord c = coord(world_rank);
  std::vector<int> ranks;
  ranks.reserve(static_cast<std::size_t>(size(axis)));
  for (int i = 0; i < size(axis); ++i) {
    c[axis] = i;
    ranks.push_back(rank(c));
  }
  return ranks;
}

std::vector<int> MeshLayout::embedding_group(int world_rank) const {
  MeshCoord c = coord(world_rank);
  if (pp() == 1) return {world_rank};
  if (c.pp != 0 && c.pp != pp() - 1) return {};
  c.pp = 0;
  const int first = rank(c);
  c.pp = pp() - 1;
  return {first, rank(c)};
}

std::string MeshLayout::str() const {
  return detail::concat("dp=", dp(), " pp=", pp(), " tp=", tp(), " order=", order_);
}

}  // namespace trident
