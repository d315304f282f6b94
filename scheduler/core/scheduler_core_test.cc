#include "scheduler/core/scheduler_core.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "scheduler/policies/registry.h"

namespace loom::sched {
namespace {

class SchedulerCoreTest : public ::testing::Test {
 protected:
  SchedulerCoreTest() : core_(std::move(MakePolicy("priority-fifo").value())) {
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(core_.cluster().UpsertNode("n" + std::to_string(i), 4, {}).ok());
  }
  JobRequest Normalized(int gpus, int per_node = 0) {
    JobRequest r;
    r.gpus = gpus;
    r.gpus_per_node = per_node;
    auto n = core_.Normalize(r);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : r;
  }
  SchedulerCore core_;
};

TEST_F(SchedulerCoreTest, NormalizeChoosesNodesAndRejectsImpossibleRequests) {
  EXPECT_EQ(Normalized(3).gpus_per_node, 3);
  EXPECT_EQ(Normalized(8).gpus_per_node, 4);
  EXPECT_EQ(Normalized(8, 4).nodes(), 2);
  auto err = [&](int gpus, int per_node) {
    JobRequest r;
    r.gpus = gpus;
    r.gpus_per_node = per_node;
    return core_.Normalize(r).status();
  };
  EXPECT_EQ(err(0, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(err(-2, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(err(10, 4).code(), StatusCode::kInvalidArgument);  // not divisible
  EXPECT_EQ(err(6, 0).code(), StatusCode::kInvalidArgument);   // 6 on nodes of 4
  EXPECT_EQ(err(16, 4).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(err(8, 8).code(), StatusCode::kResourceExhausted);
  EXPECT_NE(err(16, 4).message().find("12 GPUs in all"), std::string::npos) << err(16, 4).message();
}

TEST_F(SchedulerCoreTest, EmptyClusterRejectsEverything) {
  SchedulerCore empty(std::move(MakePolicy("priority-fifo").value()));
  JobRequest r;
  r.gpus = 1;
  EXPECT_EQ(empty.Normalize(r).status().code(), StatusCode::kResourceExhausted);
}

TEST_F(SchedulerCoreTest, GangStartsAtOnceAndReleasesOnFinish) {
  ASSERT_TRUE(core_.AddPending(1, Normalized(8), 0).ok());
  ASSERT_TRUE(core_.AddPending(2, Normalized(8), 1).ok());
  PassResult r = core_.Schedule(10);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].id, 1);
  EXPECT_EQ(core_.cluster().allocated_gpus(), 8);
  EXPECT_TRUE(core_.IsPending(2));
  EXPECT_EQ(core_.reason(2), WaitReason::kResources);
  EXPECT_TRUE(core_.Schedule(11).starts.empty());  // nothing changed, nothing starts
  core_.Finish(1);
  r = core_.Schedule(12);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].id, 2);
}

TEST_F(SchedulerCoreTest, CancelPendingAndAdoptRunning) {
  ASSERT_TRUE(core_.AddPending(5, Normalized(4), 0).ok());
  EXPECT_EQ(core_.AddPending(5, Normalized(4), 0).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(core_.RemovePending(5).ok());
  EXPECT_EQ(core_.RemovePending(5).code(), StatusCode::kNotFound);
  ASSERT_TRUE(core_.Adopt(6, {{0, 0b1111, false}}).ok());
  EXPECT_FALSE(core_.Adopt(7, {{0, 0b0001, false}}).ok());
  EXPECT_EQ(core_.cluster().allocated_gpus(), 4);
}

// Random submit/finish streams: no GPU is ever held twice, gangs are whole, and once everything
// finishes the cluster drains completely.
TEST_F(SchedulerCoreTest, RandomStreamsNeverDoubleBookAndDrain) {
  std::mt19937 rng(42);
  const int sizes[] = {1, 1, 2, 3, 4, 8, 12};
  std::set<JobId> running;
  JobId next = 1;
  int started = 0;
  for (int step = 0; step < 2000; ++step) {
    if (rng() % 2 && next < 600) {
      ASSERT_TRUE(core_.AddPending(next, Normalized(sizes[rng() % 7]), step).ok());
      ++next;
    } else if (!running.empty()) {
      auto it = running.begin();
      std::advance(it, rng() % running.size());
      core_.Finish(*it);
      running.erase(it);
    }
    for (const auto& d : core_.Schedule(step).starts) {
      running.insert(d.id);
      ++started;
    }
    GpuMask seen[3] = {0, 0, 0};
    int used = 0;
    for (JobId id : running) {
      const Allocation* a = core_.cluster().AllocationOf(id);
      ASSERT_NE(a, nullptr);
      for (const NodeGrant& g : *a) {
        ASSERT_EQ(seen[g.node] & g.gpus, 0u) << "GPU double-booked";
        seen[g.node] |= g.gpus;
        used += PopCount(g.gpus);
      }
    }
    ASSERT_EQ(used, core_.cluster().allocated_gpus());
  }
  while (!running.empty() || core_.pending_count() > 0) {
    for (JobId id : running) core_.Finish(id);
    running.clear();
    for (const auto& d : core_.Schedule(0).starts) {
      running.insert(d.id);
      ++started;
    }
    ASSERT_TRUE(!running.empty() || core_.pending_count() == 0) << "queue stuck";
  }
  EXPECT_EQ(started, next - 1);
  EXPECT_EQ(core_.cluster().allocated_gpus(), 0);
}

}  // namespace
}  // namespace loom::sched
