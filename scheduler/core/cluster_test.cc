#include "scheduler/core/cluster.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace loom::sched {
namespace {

Cluster ThreeNodes() {
  Cluster c;
  for (const char* name : {"n0", "n1", "n2"}) EXPECT_TRUE(c.UpsertNode(name, 4, {}).ok());
  return c;
}

TEST(ClusterTest, AllocateAndReleaseTrackFreeGpus) {
  Cluster c = ThreeNodes();
  EXPECT_EQ(c.total_gpus(), 12);
  ASSERT_TRUE(c.Allocate(1, {{0, 0b0011, false}}).ok());
  EXPECT_EQ(c.node(0).free, 0b1100u);
  EXPECT_EQ(c.allocated_gpus(), 2);
  c.Release(1);
  EXPECT_TRUE(c.node(0).whole_free());
  c.Release(1);  // idempotent
  EXPECT_EQ(c.allocated_gpus(), 0);
}

TEST(ClusterTest, LeavesAreNumberedByLabelAndFollowRelabelling) {
  Cluster c;
  ASSERT_TRUE(c.UpsertNode("a", 8, {{kLeafLabel, "su-1"}}).ok());
  ASSERT_TRUE(c.UpsertNode("b", 8, {{kLeafLabel, "su-2"}}).ok());
  ASSERT_TRUE(c.UpsertNode("c", 8, {{kLeafLabel, "su-1"}}).ok());
  ASSERT_TRUE(c.UpsertNode("d", 8, {}).ok());  // no label: the unnamed leaf
  EXPECT_EQ(c.leaf_count(), 3);
  EXPECT_EQ(c.leaf_of(0), c.leaf_of(2));
  EXPECT_NE(c.leaf_of(0), c.leaf_of(1));
  EXPECT_EQ(c.leaf_name(c.leaf_of(3)), "");
  ASSERT_TRUE(c.UpsertNode("c", 8, {{kLeafLabel, "su-2"}}).ok());  // the worker moved
  EXPECT_EQ(c.leaf_of(2), c.leaf_of(1));
}

TEST(ClusterTest, DoubleBookingIsRefusedAndChangesNothing) {
  Cluster c = ThreeNodes();
  ASSERT_TRUE(c.Allocate(1, {{0, 0b0011, false}}).ok());
  // Job 2 asks for a free GPU on n1 and an already-held one on n0: nothing of it may be applied.
  Status s = c.Allocate(2, {{1, 0b0001, false}, {0, 0b0010, false}});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.node(1).whole_free());
  EXPECT_EQ(c.AllocationOf(2), nullptr);
  EXPECT_EQ(c.Allocate(1, {{2, 0b1, false}}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.Allocate(3, {{2, 0b1, false}, {2, 0b10, false}}).code(), StatusCode::kInvalidArgument);
  // Not next to each other, too (the check sorts the nodes).
  EXPECT_EQ(c.Allocate(3, {{2, 0b1, false}, {1, 0b1, false}, {2, 0b10, false}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(c.node(1).whole_free());
  EXPECT_EQ(c.Allocate(4, {{2, 0b10000, false}}).code(), StatusCode::kInvalidArgument);
}

TEST(ClusterTest, ExclusiveGrantHoldsWholeNode) {
  Cluster c = ThreeNodes();
  ASSERT_TRUE(c.Allocate(1, {{0, 0b0011, true}, {1, 0b0011, true}}).ok());
  EXPECT_EQ(c.node(0).free, 0u);
  EXPECT_EQ(c.allocated_gpus(), 4);  // GPUs used, not GPUs held
  EXPECT_FALSE(c.Allocate(2, {{0, 0b0100, false}}).ok());
  EXPECT_EQ(c.JobsOn(1), std::vector<JobId>{1});
  c.Release(1);
  EXPECT_TRUE(c.node(0).whole_free());
  EXPECT_TRUE(c.node(1).whole_free());
}

// JobsOn answers from an index kept by Allocate and Release; it must equal a scan of every
// job's allocation after any mix of them, refused ones included.
TEST(ClusterTest, JobsOnIndexMatchesAScanOfTheAllocations) {
  Cluster c;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(c.UpsertNode("n" + std::to_string(i), 4, {}).ok());
  std::mt19937 rng(7);
  std::map<JobId, Allocation> held;
  for (int step = 0; step < 2000; ++step) {
    const JobId job = 1 + static_cast<JobId>(rng() % 40);
    if (held.count(job) && rng() % 2) {
      c.Release(job);
      held.erase(job);
    } else {
      Allocation a;
      const int nodes = 1 + static_cast<int>(rng() % 2);
      for (int k = 0; k < nodes; ++k) {
        a.push_back({static_cast<NodeIndex>(rng() % 6), static_cast<GpuMask>(1u << (rng() % 4)), rng() % 5 == 0});
      }
      if (c.Allocate(job, a).ok()) held[job] = a;  // refused ones (double booking) change nothing
    }
    for (NodeIndex n = 0; n < c.size(); ++n) {
      std::vector<JobId> scan;
      for (const auto& [id, allocation] : held) {
        for (const NodeGrant& g : allocation) if (g.node == n) scan.push_back(id);
      }
      ASSERT_EQ(c.JobsOn(n), scan) << "node " << n << " after step " << step;
    }
  }
  EXPECT_TRUE(c.JobsOn(-1).empty());
  EXPECT_TRUE(c.JobsOn(6).empty());
}

TEST(ClusterTest, UpsertKeepsIndexAndRefusesResizeUnderLoad) {
  Cluster c = ThreeNodes();
  ASSERT_TRUE(c.Allocate(1, {{1, 0b1, false}}).ok());
  EXPECT_EQ(*c.UpsertNode("n1", 4, {{"leaf", "l1"}}), 1);
  EXPECT_EQ(c.node(1).labels.at("leaf"), "l1");
  EXPECT_EQ(c.UpsertNode("n1", 8, {}).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.UpsertNode("bad", 65, {}).status().code(), StatusCode::kInvalidArgument);
  c.Release(1);
  EXPECT_TRUE(c.UpsertNode("n1", 8, {}).ok());
  EXPECT_EQ(c.max_gpus_per_node(), 8);
}

}  // namespace
}  // namespace loom::sched
