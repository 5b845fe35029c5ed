// The 3D mesh as pure arithmetic: sizes (dp, pp, tp), an axis order, and the maps between a world
// rank and its coordinates. No communication here, so every layout can be tested exhaustively.
//
// The order string lists axes from fastest- to slowest-varying: "tp-pp-dp" (the default) makes the
// tp ranks of one stage consecutive world ranks (inside a node, where NVLink is) and dp outermost.
// world_rank = Σ_axis coord[axis] · stride[axis], stride of the first axis in the order = 1.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace trident {

enum class MeshAxis { kData = 0, kPipeline = 1, kTensor = 2 };
constexpr std::array<MeshAxis, 3> kMeshAxes = {MeshAxis::kData, MeshAxis::kPipeline, MeshAxis::kTensor};
std::string_view mesh_axis_name(MeshAxis axis);  // "dp", "pp", "tp"

struct MeshCoord {
  int dp = 0, pp = 0, tp = 0;
  int operator[](MeshAxis a) const { return a == MeshAxis::kData ? dp : a == MeshAxis::kPipeline ? pp : tp; }
  int& operator[](MeshAxis a) { return a == MeshAxis::kData ? dp : a == MeshAxis::kPipeline ? pp : tp; }
  friend bool operator==(const MeshCoord&, const MeshCoord&) = default;
};

class MeshLayout {
 public:
  // Throws trident::Error when a size is < 1, or the order is not a permutation of tp, pp, dp
  // (unknown or repeated axis), naming the bad part and the accepted form.
  MeshLayout(int dp, int pp, int tp, std::string_view order = "tp-pp-dp");

  // Checks world_size == dp·pp·tp, with a message naming the numbers and how to fix them.
  void check_world_size(int world_size) const;

  int size(MeshAxis a) const { return sizes_[static_cast<std::size_t>(a)]; }
  int dp() const { return size(MeshAxis::kData); }
  int pp() const { return size(MeshAxis::kPipeline); }
  int tp() const { return size(MeshAxis::kTensor); }
  int world_size() const { return dp() * pp() * tp(); }
  const std::string& order() const { return order_; }
  // Axes from fastest- to slowest-varying.
  const std::array<MeshAxis, 3>& axis_order() const { return axis_order_; }
  int stride(MeshAxis a) const { return strides_[static_cast<std::size_t>(a)]; }

  MeshCoord coord(int world_rank) const;
  int rank(const MeshCoord& c) const;

  // World ranks of the group along `axis` that contains `world_rank`, ordered by their coordinate
  // on that axis (so a rank's index in the group is its coordinate).
  std::vector<int> group(MeshAxis axis, int world_rank) const;
  // First and last pipeline stage at this rank's (dp, tp): the ranks that hold the tied embedding.
  // Empty when the rank is on neither; one rank when pp == 1.
  std::vector<int> embedding_group(int world_rank) const;

  std::string str() const;  // "dp=2 pp=2 tp=2 order=tp-pp-dp"

 private:
  std::array<int, 3> sizes_{};
  std::array<int, 3> strides_{};
  std::array<MeshAxis, 3> axis_order_{};
  std::string order_;
};

}  // namespace trident
