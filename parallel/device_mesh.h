// DeviceMesh: the MeshLayout plus one communicator per group this rank belongs to, in the spirit
// of Megatron-Core's parallel_state. Every rank creates the groups in the same fixed order (tp, pp,
// dp, embedding) by splitting the world communicator, so the collective splits always match.
#pragma once

#include <memory>

#include "parallel/communicator.h"
#include "parallel/mesh_layout.h"

namespace trident {

class DeviceMesh {
 public:
  // Collective over `world`. Throws trident::Error if world.size() != layout.world_size().
  DeviceMesh(Communicator& world, const MeshLayout& layout);

  const MeshLayout& layout() const { return layout_; }
  const MeshCoord& coord() const { return coord_; }
  Communicator& world() const { return world_; }
  Communicator& group(MeshAxis axis) const;
  Communicator& tp_group() const { return group(MeshAxis::kTensor); }
  Communicator& pp_group() const { return group(MeshAxis::kPipeline); }
  Communicator& dp_group() const { return group(MeshAxis::kData); }
  // Null on ranks that are on neither the first nor the last pipeline stage.
  Communicator* embedding_group() const { return embedding_.get(); }

  bool is_first_stage() const { return coord_.pp == 0; }
  bool is_last_stage() const { return coord_.pp == layout_.pp() - 1; }

 private:
  Communicator& world_;
  MeshLayout layout_;
  MeshCoord coord_;
  std::array<std::unique_ptr<Communicator>, 3> groups_;
  std::unique_ptr<Communicator> embedding_;
};

}  // namespace trident
