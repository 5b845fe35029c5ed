#include "parallel/device_mesh.h"

#include <string>

namespace trident {

namespace {

std::size_t index(MeshAxis a) { return static_cast<std::size_t>(a); }

// Every rank splits in this order, so the collective splits match across the world.
constexpr std::array<MeshAxis, 3> kSplitOrder = {MeshAxis::kTensor, MeshAxis::kPipeline, MeshAxis::kData};

}  // namespace

DeviceMesh::DeviceMesh(Communicator& world, const MeshLayout& layout) : world_(world), layout_(layout) {
  // Same answer on every rank (same world size, same layout), so all of them throw and none hangs.
  layout_.check_world_size(world.size());
  coord_ = layout_.coord(world.rank());

  for (MeshAxis axis : kSplitOrder) {
    // A group's members are ordered by their coordinate on the axis, so its first member has the
    // smallest world rank and names the group; keying by the coordinate makes group rank ==
    // coordinate.
    const std::vector<int> members = layout_.group(axis, world.rank());
    std::unique_ptr<Communicator> group =
        world.split(members.front(), coord_[axis], std::string(mesh_axis_name(axis)));
    TRIDENT_CHECK(group && group->size() == layout_.size(axis) && group->rank() == coord_[axis],
                  "the ", mesh_axis_name(axis), " group of rank ", world.rank(), " came out with ",
                  group ? group->size() : 0, " ranks instead of ", layout_.size(axis), " (", layout_.str(),
                  "): the communicator backend's split is broken");
    groups_[index(axis)] = std::move(group);
  }

  // Ranks on neither the first nor the last stage still take part in the split, with no color.
  const std::vector<int> embedding = layout_.embedding_group(world.rank());
  const int color = embedding.empty() ? -1 : embedding.front();
  const int key = coord_.pp == 0 ? 0 : 1;
  embedding_ = world.split(color, key, "embedding");
  TRIDENT_CHECK((embedding_ ? embedding_->size() : 0) == static_cast<int>(embedding.size()),
                "the embedding group of rank ", world.rank(), " came out with ", embedding_ ? embedding_->size() : 0,
                " ranks instead of ", embedding.size(), " (", layout_.str(), ")");

  // The pipeline sends only to its ring neighbours; NCCL gives each an independent channel.
  group(MeshAxis::kPipeline).connect_ring_neighbors();
}

Communicator& DeviceMesh::group(MeshAxis axis) const { return *groups_[index(axis)]; }

}  // namespace trident
