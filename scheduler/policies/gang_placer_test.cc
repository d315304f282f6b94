#include "scheduler/policies/gang_placer.h"

#include <gtest/gtest.h>

#include "scheduler/core/test_cluster.h"
#include "scheduler/policies/priority_fifo.h"

namespace loom::sched {
namespace {

using testing::Req;

Cluster MakeCluster(int nodes, int gpus) { return testing::MakeCluster(1, nodes, gpus); }

TEST(GangPlacerTest, SingleNodeJobsAreBestFit) {
  Cluster c = MakeCluster(3, 4);
  ASSERT_TRUE(c.Allocate(100, {{1, 0b0111, false}}).ok());  // n1 has 1 free
  ASSERT_TRUE(c.Allocate(101, {{2, 0b0011, false}}).ok());  // n2 has 2 free
  GangPlacer placer;
  Allocation a;
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(1, 1), &a));
  EXPECT_EQ(a[0].node, 1);  // tightest fit; n0 stays whole
  EXPECT_EQ(a[0].gpus, 0b1000u);
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(2, 2), &a));
  EXPECT_EQ(a[0].node, 2);
  EXPECT_EQ(a[0].gpus, 0b1100u);
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(3, 3), &a));
  EXPECT_EQ(a[0].node, 0);
}

TEST(GangPlacerTest, MultiNodeJobsGetWholeNodesOrNothing) {
  Cluster c = MakeCluster(3, 4);
  GangPlacer placer;
  Allocation a;
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(8, 4), &a));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(a[0].exclusive && a[1].exclusive);
  EXPECT_NE(a[0].node, a[1].node);

  ASSERT_TRUE(c.Allocate(1, {{0, 0b1, false}}).ok());  // one GPU busy on n0
  ASSERT_TRUE(c.Allocate(2, {{1, 0b1, false}}).ok());  // and on n1
  EXPECT_FALSE(placer.Place(CapacityView(c), Req(8, 4), &a));
  EXPECT_TRUE(a.empty());  // no partial gang
  // Two GPUs per node on two nodes still needs whole nodes: only n2 is whole.
  EXPECT_FALSE(placer.Place(CapacityView(c), Req(4, 2), &a));
}

TEST(GangPlacerTest, DownNodesAreNotUsed) {
  Cluster c = MakeCluster(2, 4);
  c.SetUp(0, false);
  GangPlacer placer;
  Allocation a;
  ASSERT_TRUE(placer.Place(CapacityView(c), Req(4, 4), &a));
  EXPECT_EQ(a[0].node, 1);
  EXPECT_FALSE(placer.Place(CapacityView(c), Req(8, 4), &a));
}

TEST(PriorityFifoTest, HigherPriorityFirstThenSubmitOrder) {
  Cluster c = MakeCluster(1, 4);
  PriorityFifoPolicy policy(std::make_unique<GangPlacer>());
  JobRequest low = Req(2, 2, 0), high = Req(2, 2, 5), later = Req(2, 2, 0);
  std::vector<PendingJob> q = {{1, &low, 10}, {2, &later, 20}, {3, &high, 30}};
  PassResult r = policy.Schedule(c, q, {}, 100);
  ASSERT_EQ(r.starts.size(), 2u);
  EXPECT_EQ(r.starts[0].id, 3);
  EXPECT_EQ(r.starts[1].id, 1);
  EXPECT_EQ(r.starts[0].allocation[0].gpus & r.starts[1].allocation[0].gpus, 0u);
  ASSERT_EQ(r.waiting.size(), 1u);
  EXPECT_EQ(r.waiting[0], std::make_pair(JobId{2}, WaitReason::kResources));
}

TEST(PriorityFifoTest, BlockedHeadHoldsBackSmallerJobs) {
  Cluster c = MakeCluster(2, 4);
  ASSERT_TRUE(c.Allocate(9, {{0, 0b1, false}}).ok());
  PriorityFifoPolicy policy(std::make_unique<GangPlacer>());
  JobRequest big = Req(8, 4), small = Req(1, 1);
  std::vector<PendingJob> q = {{1, &big, 1}, {2, &small, 2}};
  PassResult r = policy.Schedule(c, q, {}, 0);
  EXPECT_TRUE(r.starts.empty());
  ASSERT_EQ(r.waiting.size(), 2u);
  EXPECT_EQ(r.waiting[0].second, WaitReason::kResources);
  EXPECT_EQ(r.waiting[1].second, WaitReason::kPriority);
}

}  // namespace
}  // namespace loom::sched
