#include "scheduler/core/capacity_view.h"

#include <gtest/gtest.h>

#include <random>

#include "scheduler/core/test_cluster.h"

namespace loom::sched {
namespace {

// The index must agree with a plain scan of the masks after any sequence of takes and gives.
TEST(CapacityViewTest, IndexAgreesWithAScanAfterRandomTakesAndGives) {
  Cluster c = testing::MakeCluster(3, 4, 8);
  c.SetUp(5, false);
  CapacityView view(c);
  std::mt19937 rng(7);
  for (int step = 0; step < 2000; ++step) {
    const NodeIndex n = static_cast<NodeIndex>(rng() % c.size());
    const GpuMask bits = rng() & 0xff;
    if (rng() % 2) {
      view.Take(n, bits);
    } else {
      view.Give(n, bits);
    }
    int free = 0, whole = 0;
    for (NodeIndex i = 0; i < c.size(); ++i) {
      free += PopCount(view.free(i));
      whole += view.whole_free(i);
    }
    ASSERT_EQ(view.free(5), 0u) << "a down node never gets GPUs back";
    ASSERT_EQ(view.free_gpus(), free);
    ASSERT_EQ(view.whole_free_nodes(), whole);
    int in_leaves = 0;
    for (int leaf = 0; leaf < c.leaf_count(); ++leaf) {
      for (NodeIndex i : view.whole_free_in_leaf(leaf)) {
        ASSERT_TRUE(view.whole_free(i));
        ASSERT_EQ(c.leaf_of(i), leaf);
      }
      in_leaves += static_cast<int>(view.whole_free_in_leaf(leaf).size());
    }
    ASSERT_EQ(in_leaves, whole);
    for (int g = 1; g <= 8; ++g) {
      int best = kMaxGpusPerNode + 1;
      for (NodeIndex i = 0; i < c.size(); ++i) {
        if (PopCount(view.free(i)) >= g) best = std::min(best, PopCount(view.free(i)));
      }
      const NodeIndex got = view.BestFit(g);
      ASSERT_EQ(got < 0 ? kMaxGpusPerNode + 1 : PopCount(view.free(got)), best);
    }
  }
}

TEST(CapacityViewTest, BestFitPrefersABusyNodeToAWholeOneOfTheSameFreeCount) {
  Cluster c;
  ASSERT_TRUE(c.UpsertNode("small", 4, {}).ok());
  ASSERT_TRUE(c.UpsertNode("big", 8, {}).ok());
  ASSERT_TRUE(c.Allocate(1, {{1, 0x0f, false}}).ok());  // big: 4 free, 4 busy
  CapacityView view(c);
  EXPECT_EQ(view.BestFit(3), 1);
}

}  // namespace
}  // namespace loom::sched
