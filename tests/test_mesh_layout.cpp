// MeshLayout is pure arithmetic, so it is checked exhaustively: every world size 1..16, every
// factorisation dp*pp*tp of it and every axis order.
#include "parallel/mesh_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"

namespace trident {
namespace {

const std::vector<std::string> kOrders = {"tp-pp-dp", "tp-dp-pp", "pp-tp-dp", "pp-dp-tp", "dp-tp-pp", "dp-pp-tp"};

std::vector<MeshLayout> all_layouts() {
  std::vector<MeshLayout> layouts;
  for (int world = 1; world <= 16; ++world)
    for (int dp = 1; dp <= world; ++dp)
      for (int pp = 1; pp <= world / dp; ++pp)
        if (world % (dp * pp) == 0)
          for (const std::string& order : kOrders) layouts.emplace_back(dp, pp, world / (dp * pp), order);
  return layouts;
}

// The message of the trident::Error that `f` throws ("" if it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(MeshLayout, CoordAndRankAreInverseBijections) {
  for (const MeshLayout& l : all_layouts()) {
    SCOPED_TRACE(l.str());
    std::set<std::tuple<int, int, int>> seen;
    for (int r = 0; r < l.world_size(); ++r) {
      const MeshCoord c = l.coord(r);
      for (MeshAxis a : kMeshAxes) {
        EXPECT_GE(c[a], 0);
        EXPECT_LT(c[a], l.size(a));
      }
      EXPECT_EQ(l.rank(c), r);
      seen.insert({c.dp, c.pp, c.tp});
    }
    EXPECT_EQ(static_cast<int>(seen.size()), l.world_size());  // coord is injective, so a bijection
  }
}

TEST(MeshLayout, GroupsHaveTheRightMembersInCoordinateOrder) {
  for (const MeshLayout& l : all_layouts()) {
    SCOPED_TRACE(l.str());
    for (MeshAxis axis : kMeshAxes) {
      for (int r = 0; r < l.world_size(); ++r) {
        const std::vector<int> g = l.group(axis, r);
        ASSERT_EQ(static_cast<int>(g.size()), l.size(axis));
        EXPECT_NE(std::find(g.begin(), g.end(), r), g.end());
        const MeshCoord mine = l.coord(r);
        for (int i = 0; i < static_cast<int>(g.size()); ++i) {
          const MeshCoord c = l.coord(g[static_cast<std::size_t>(i)]);
          EXPECT_EQ(c[axis], i);  // index in the group == coordinate on the axis
          for (MeshAxis other : kMeshAxes) {
            if (other != axis) {
              EXPECT_EQ(c[other], mine[other]);
            }
          }
        }
      }
    }
  }
}

TEST(MeshLayout, GroupsAlongAnAxisPartitionTheWorld) {
  for (const MeshLayout& l : all_layouts()) {
    SCOPED_TRACE(l.str());
    for (MeshAxis axis : kMeshAxes) {
      std::set<std::vector<int>> groups;
      for (int r = 0; r < l.world_size(); ++r) groups.insert(l.group(axis, r));
      EXPECT_EQ(static_cast<int>(groups.size()), l.world_size() / l.size(axis));
      std::vector<int> all;
      for (const std::vector<int>& g : groups) all.insert(all.end(), g.begin(), g.end());
      std::sort(all.begin(), all.end());
      std::vector<int> world(static_cast<std::size_t>(l.world_size()));
      for (int r = 0; r < l.world_size(); ++r) world[static_cast<std::size_t>(r)] = r;
      EXPECT_EQ(all, world);  // disjoint and covering
    }
  }
}

TEST(MeshLayout, EmbeddingGroupIsFirstAndLastStage) {
  for (const MeshLayout& l : all_layouts()) {
    SCOPED_TRACE(l.str());
    for (int r = 0; r < l.world_size(); ++r) {
      const MeshCoord c = l.coord(r);
      const std::vector<int> g = l.embedding_group(r);
      if (l.pp() == 1) {
        EXPECT_EQ(g, std::vector<int>{r});
      } else if (c.pp != 0 && c.pp != l.pp() - 1) {
        EXPECT_TRUE(g.empty());
      } else {
        ASSERT_EQ(g.size(), 2u);
        const MeshCoord first = l.coord(g[0]), last = l.coord(g[1]);
        EXPECT_EQ(first.pp, 0);
        EXPECT_EQ(last.pp, l.pp() - 1);
        EXPECT_EQ(first.dp, c.dp);
        EXPECT_EQ(first.tp, c.tp);
        EXPECT_EQ(last.dp, c.dp);
        EXPECT_EQ(last.tp, c.tp);
        EXPECT_NE(std::find(g.begin(), g.end(), r), g.end());
        EXPECT_EQ(l.embedding_group(g[0]), l.embedding_group(g[1]));  // both ends agree on the group
      }
    }
  }
}

TEST(MeshLayout, StridesFollowTheOrder) {
  for (const MeshLayout& l : all_layouts()) {
    SCOPED_TRACE(l.str());
    const std::array<MeshAxis, 3>& order = l.axis_order();
    EXPECT_EQ(l.stride(order[0]), 1);
    EXPECT_EQ(l.stride(order[1]), l.size(order[0]));
    EXPECT_EQ(l.stride(order[2]), l.size(order[0]) * l.size(order[1]));
    EXPECT_EQ(l.order(), std::string(mesh_axis_name(order[0])) + "-" + std::string(mesh_axis_name(order[1])) +
                             "-" + std::string(mesh_axis_name(order[2])));
  }
}

TEST(MeshLayout, DefaultOrderPutsTensorParallelRanksNextToEachOther) {
  const MeshLayout l(2, 3, 4);
  EXPECT_EQ(l.order(), "tp-pp-dp");
  EXPECT_EQ(l.group(MeshAxis::kTensor, 0), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(l.group(MeshAxis::kTensor, 9), (std::vector<int>{8, 9, 10, 11}));
  EXPECT_EQ(l.group(MeshAxis::kPipeline, 0), (std::vector<int>{0, 4, 8}));
  EXPECT_EQ(l.group(MeshAxis::kData, 5), (std::vector<int>{5, 17}));
  EXPECT_EQ(l.coord(23), (MeshCoord{1, 2, 3}));
  EXPECT_EQ(l.str(), "dp=2 pp=3 tp=4 order=tp-pp-dp");
}

TEST(MeshLayout, WorldSizeMismatchNamesTheNumbersAndTheFix) {
  const MeshLayout l(2, 2, 2);
  EXPECT_NO_THROW(l.check_world_size(8));
  const std::string message = error_of([&] { l.check_world_size(6); });
  EXPECT_NE(message.find("world size 6 does not equal dp*pp*tp = 2*2*2 = 8"), std::string::npos) << message;
  EXPECT_NE(message.find("mpirun -np 8"), std::string::npos) << message;
}

TEST(MeshLayout, BadOrdersAreRejectedWithTheAcceptedForm) {
  const std::string hint = "use a permutation of tp, pp, dp such as tp-pp-dp";
  const std::string unknown = error_of([] { MeshLayout(1, 1, 1, "xp-pp-dp"); });
  EXPECT_NE(unknown.find("'xp'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find(hint), std::string::npos) << unknown;
  const std::string repeated = error_of([] { MeshLayout(1, 1, 1, "tp-tp-dp"); });
  EXPECT_NE(repeated.find("'tp'"), std::string::npos) << repeated;
  EXPECT_NE(repeated.find(hint), std::string::npos) << repeated;
  const std::string missing = error_of([] { MeshLayout(1, 1, 1, "tp-pp"); });
  EXPECT_NE(missing.find("'dp'"), std::string::npos) << missing;
  EXPECT_NE(missing.find(hint), std::string::npos) << missing;
  EXPECT_NE(error_of([] { MeshLayout(1, 1, 1, "tp-pp-dp-tp"); }).find(hint), std::string::npos);
  EXPECT_NE(error_of([] { MeshLayout(1, 1, 1, "tp_pp_dp"); }).find(hint), std::string::npos);
  EXPECT_NE(error_of([] { MeshLayout(1, 1, 1, ""); }).find(hint), std::string::npos);
}

TEST(MeshLayout, SizesBelowOneAreRejectedNamingTheAxis) {
  const std::string zero_pp = error_of([] { MeshLayout(2, 0, 2); });
  EXPECT_NE(zero_pp.find("pp=0"), std::string::npos) << zero_pp;
  const std::string negative_tp = error_of([] { MeshLayout(1, 1, -3); });
  EXPECT_NE(negative_tp.find("tp=-3"), std::string::npos) << negative_tp;
  EXPECT_NE(error_of([] { MeshLayout(0, 1, 1); }).find("dp=0"), std::string::npos);
}

TEST(MeshLayout, OutOfRangeRanksAndCoordsAreErrors) {
  const MeshLayout l(2, 2, 2);
  EXPECT_THROW(l.coord(8), Error);
  EXPECT_THROW(l.coord(-1), Error);
  EXPECT_THROW(l.rank(MeshCoord{0, 2, 0}), Error);
}

TEST(MeshLayout, AxisNames) {
  EXPECT_EQ(mesh_axis_name(MeshAxis::kData), "dp");
  EXPECT_EQ(mesh_axis_name(MeshAxis::kPipeline), "pp");
  EXPECT_EQ(mesh_axis_name(MeshAxis::kTensor), "tp");
}

}  // namespace
}  // namespace trident
