// DeviceMesh on real ranks: for every factorisation of the world size, the groups it builds must be
// exactly the ones MeshLayout computes. Reductions and gathers of world ranks inside each group
// prove membership and order, since only the members' values can reach the result.
#include "parallel/device_mesh.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "tests/mpi_test_env.h"

namespace trident {
namespace {

std::vector<MeshLayout> layouts_of(int world, const std::vector<std::string>& orders) {
  std::vector<MeshLayout> layouts;
  for (int dp = 1; dp <= world; ++dp)
    for (int pp = 1; pp <= world / dp; ++pp)
      if (world % (dp * pp) == 0)
        for (const std::string& order : orders) layouts.emplace_back(dp, pp, world / (dp * pp), order);
  return layouts;
}

// Every member contributes its world rank: the sum checks membership, the gather checks order.
void expect_group_is(Communicator& group, const std::vector<int>& members, int me) {
  EXPECT_EQ(group.size(), static_cast<int>(members.size()));
  Tensor sum = Tensor::empty({1}, DType::kI32);
  sum.data<std::int32_t>()[0] = me;
  group.all_reduce(sum, ReduceOp::kSum);
  EXPECT_EQ(sum.data<std::int32_t>()[0], std::accumulate(members.begin(), members.end(), 0));

  Tensor mine = Tensor::empty({1}, DType::kI32);
  mine.data<std::int32_t>()[0] = me;
  Tensor all = Tensor::empty({group.size()}, DType::kI32);
  group.all_gather(mine, all);
  std::vector<int> gathered(all.data<std::int32_t>(), all.data<std::int32_t>() + all.numel());
  EXPECT_EQ(gathered, members);
}

TEST(DeviceMesh, GroupsMatchTheLayoutForEveryFactorisation) {
  Communicator& world = test_world();
  const int me = world.rank();
  for (const MeshLayout& layout : layouts_of(world.size(), {"tp-pp-dp", "dp-pp-tp"})) {
    SCOPED_TRACE(layout.str());
    DeviceMesh mesh(world, layout);
    const MeshCoord c = layout.coord(me);
    EXPECT_EQ(mesh.coord(), c);
    EXPECT_EQ(&mesh.world(), &world);
    EXPECT_EQ(mesh.is_first_stage(), c.pp == 0);
    EXPECT_EQ(mesh.is_last_stage(), c.pp == layout.pp() - 1);
    for (MeshAxis axis : kMeshAxes) {
      SCOPED_TRACE(mesh_axis_name(axis));
      Communicator& group = mesh.group(axis);
      EXPECT_EQ(group.name(), mesh_axis_name(axis));
      EXPECT_EQ(group.rank(), c[axis]);
      expect_group_is(group, layout.group(axis, me), me);
    }
    EXPECT_EQ(&mesh.tp_group(), &mesh.group(MeshAxis::kTensor));
    EXPECT_EQ(&mesh.pp_group(), &mesh.group(MeshAxis::kPipeline));
    EXPECT_EQ(&mesh.dp_group(), &mesh.group(MeshAxis::kData));

    const std::vector<int> embedding = layout.embedding_group(me);
    EXPECT_EQ(mesh.embedding_group() == nullptr, embedding.empty());
    if (Communicator* group = mesh.embedding_group()) {  // only members call the collectives
      EXPECT_EQ(group->name(), "embedding");
      expect_group_is(*group, embedding, me);
    }
    world.barrier();  // the next mesh's splits start together
  }
}

TEST(DeviceMesh, WorldSizeMismatchThrowsOnEveryRank) {
  Communicator& world = test_world();
  const int n = world.size();
  std::string message;
  try {
    DeviceMesh mesh(world, MeshLayout(n + 1, 1, 1));
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("world size " + std::to_string(n) + " does not equal dp*pp*tp"), std::string::npos)
      << message;
  world.barrier();  // every rank got here: nobody is stuck in a split
}

}  // namespace
}  // namespace trident
