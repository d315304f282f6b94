#include "scheduler/policies/preemption.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/test_cluster.h"
#include "scheduler/policies/backfill.h"
#include "scheduler/policies/gang_placer.h"

namespace loom::sched {
namespace {

using testing::Req;

JobRequest WithQos(JobRequest r, int qos) {
  r.qos = qos;
  return r;
}

// Four 8-GPU nodes, all busy:
//   node 0: job 1, QoS 0, 8 GPUs since t=0        (expensive)
//   node 1: jobs 2 and 3, QoS 0, 4 GPUs each since t=900
//   node 2: job 4, QoS 1, 8 GPUs since t=999      (cheapest, but a higher QoS)
//   node 3: job 5, QoS 0, 1 GPU since t=990
// Job 10 (QoS 2) needs two whole nodes at t=1000.
class PreemptionTest : public ::testing::Test {
 protected:
  PreemptionTest()
      : core_(std::make_unique<BackfillPolicy>(std::make_unique<GangPlacer>(),
                                               MultifactorPriority(PriorityWeights{}, {}))) {
    core_.cluster() = testing::MakeCluster(1, 4, 8);
    EXPECT_TRUE(core_.Adopt(1, {{0, 0xff, false}}, Req(8, 8), 0).ok());
    EXPECT_TRUE(core_.Adopt(2, {{1, 0x0f, false}}, Req(4, 4), 900).ok());
    EXPECT_TRUE(core_.Adopt(3, {{1, 0xf0, false}}, Req(4, 4), 900).ok());
    EXPECT_TRUE(core_.Adopt(4, {{2, 0xff, false}}, WithQos(Req(8, 8), 1), 999).ok());
    EXPECT_TRUE(core_.Adopt(5, {{3, 0x01, false}}, Req(1, 1), 990).ok());
    EXPECT_TRUE(core_.AddPending(10, WithQos(Req(16, 8), 2), 1000).ok());
  }
  static std::vector<JobId> Victims(const PassResult& r) {
    std::vector<JobId> v;
    for (const Preemption& p : r.preemptions) {
      EXPECT_EQ(p.for_job, 10);
      v.push_back(p.victim);
    }
    std::sort(v.begin(), v.end());
    return v;
  }
  SchedulerCore core_;
};

TEST_F(PreemptionTest, ChoosesTheCheapestWholeGangsOfTheLowestQos) {
  PassResult r = core_.Schedule(1000);
  EXPECT_TRUE(r.starts.empty());
  // Nodes 1 and 3 cost 4+4 GPUs x 100 ms and 1 GPU x 10 ms; node 0 would cost 8 GPUs x 1000 ms,
  // node 2 holds a higher QoS.
  EXPECT_EQ(Victims(r), (std::vector<JobId>{2, 3, 5}));
}

TEST_F(PreemptionTest, VictimsAreChosenOnceAndRequeuedNotKilled) {
  ASSERT_EQ(Victims(core_.Schedule(1000)).size(), 3u);
  // During the grace period, later passes choose no one else.
  EXPECT_TRUE(core_.Schedule(1001).preemptions.empty());
  for (JobId victim : {2, 3, 5}) ASSERT_TRUE(core_.Requeue(victim, 1002).ok());
  PassResult r = core_.Schedule(1002);
  ASSERT_FALSE(r.starts.empty());
  EXPECT_EQ(r.starts[0].id, 10);
  for (JobId victim : {2, 3, 5}) EXPECT_TRUE(core_.IsPending(victim) || core_.IsRunning(victim));
  EXPECT_TRUE(core_.IsRunning(1));
  EXPECT_TRUE(core_.IsRunning(4));
}

TEST(PreemptionPlanTest, NoPlanWhenOnlyEqualOrHigherQosRuns) {
  Cluster c = testing::MakeCluster(1, 1, 8);
  JobRequest running_req = WithQos(Req(8, 8), 2);
  ASSERT_TRUE(c.Allocate(1, {{0, 0xff, false}}).ok());
  std::vector<RunningJob> running = {{1, &running_req, 0, false}};
  GangPlacer placer;
  EXPECT_FALSE(PlanPreemption(CapacityView(c), WithQos(Req(8, 8), 2), running, {}, placer, 10));
}

}  // namespace
}  // namespace loom::sched
