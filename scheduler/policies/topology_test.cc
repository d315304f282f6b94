// Topology-aware gang placement: fewest leaf switches, best fit between leaves and inside nodes.
#include <gtest/gtest.h>

#include <set>

#include "scheduler/core/test_cluster.h"
#include "scheduler/policies/gang_placer.h"

namespace loom::sched {
namespace {

using testing::MakeCluster;
using testing::Req;

std::set<int> LeavesOf(const Cluster& c, const Allocation& a) {
  std::set<int> leaves;
  for (const NodeGrant& g : a) leaves.insert(c.leaf_of(g.node));
  return leaves;
}

// Fills `nodes` whole nodes of `leaf` (4 nodes per leaf) with one job each.
void Occupy(Cluster& c, int leaf, int nodes, JobId* next) {
  for (int i = 0; i < nodes; ++i) {
    ASSERT_TRUE(c.Allocate((*next)++, {{static_cast<NodeIndex>(leaf * 4 + i), 0xff, true}}).ok());
  }
}

TEST(TopologyTest, AGangThatFitsOneLeafGetsTheFullestLeafThatHoldsIt) {
  Cluster c = MakeCluster(3, 4, 8);  // leaves of 4 nodes
  JobId next = 100;
  Occupy(c, 0, 3, &next);  // leaf 0: 1 free node
  Occupy(c, 1, 1, &next);  // leaf 1: 3 free; leaf 2: 4 free
  GangPlacer placer;
  Allocation a;
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(24, 8), &a));
  EXPECT_EQ(LeavesOf(c, a), std::set<int>{1});  // leaf 2 stays whole for a 4-node gang
}

TEST(TopologyTest, AGangTooLargeForOneLeafSpansTheFewestLeaves) {
  Cluster c = MakeCluster(4, 4, 8);
  JobId next = 100;
  Occupy(c, 0, 2, &next);  // free nodes per leaf: 2, 3, 4, 1
  Occupy(c, 1, 1, &next);
  Occupy(c, 3, 3, &next);
  GangPlacer placer;
  Allocation a;
  // 5 nodes: leaf 2 (4) plus one more. The rest goes to the emptiest leaf that covers it (leaf 3),
  // leaving leaves 0 and 1 intact.
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(40, 8), &a));
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(LeavesOf(c, a), (std::set<int>{2, 3}));
  // 9 nodes need 3 leaves: 4 + 3 + 2.
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(72, 8), &a));
  EXPECT_EQ(LeavesOf(c, a), (std::set<int>{0, 1, 2}));
}

TEST(TopologyTest, RequireOneLeafRefusesASpreadPlacement) {
  Cluster c = MakeCluster(2, 4, 8);
  JobId next = 100;
  Occupy(c, 0, 1, &next);
  Occupy(c, 1, 1, &next);  // 3 + 3 free nodes
  GangPlacer placer;
  JobRequest r = Req(32, 8);
  Allocation a;
  EXPECT_TRUE(placer.Place(CapacityView(c), r, &a));
  EXPECT_EQ(LeavesOf(c, a).size(), 2u);
  r.leaf = LeafConstraint::kRequireOne;
  EXPECT_FALSE(placer.Place(CapacityView(c), r, &a));
  EXPECT_TRUE(a.empty());
  r.gpus = 24;
  ASSERT_TRUE(placer.Place(CapacityView(c), r, &a));
  EXPECT_EQ(LeavesOf(c, a).size(), 1u);
}

// Small jobs fill partly used nodes first, so a stream of them leaves whole nodes for gangs.
TEST(TopologyTest, BestFitKeepsWholeNodesFree) {
  Cluster c = MakeCluster(1, 4, 8);
  ASSERT_TRUE(c.Allocate(1, {{2, 0x01, false}}).ok());
  GangPlacer placer;
  CapacityView view(c);
  JobId next = 10;
  for (int gpus : {1, 2, 4}) {  // 7 GPUs: exactly the rest of node 2
    Allocation a;
    ASSERT_TRUE(placer.Place(view, Req(gpus, gpus), &a));
    EXPECT_EQ(a[0].node, 2);
    view.Take(a);
    ASSERT_TRUE(c.Allocate(next++, a).ok());
  }
  EXPECT_EQ(view.whole_free_nodes(), 3);
}

}  // namespace
}  // namespace loom::sched
