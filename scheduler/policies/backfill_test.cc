#include "scheduler/policies/backfill.h"

#include <gtest/gtest.h>

#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/test_cluster.h"
#include "scheduler/policies/gang_placer.h"
#include "scheduler/policies/registry.h"

namespace loom::sched {
namespace {

using testing::Req;

std::unique_ptr<BackfillPolicy> Backfill(FairShareConfig shares = {}) {
  return std::make_unique<BackfillPolicy>(
      std::make_unique<GangPlacer>(), MultifactorPriority(PriorityWeights{}, std::move(shares)));
}

JobRequest Limited(int gpus, int per_node, TimeMs limit, int boost = 0) {
  JobRequest r = Req(gpus, per_node, boost);
  r.time_limit_ms = limit;
  return r;
}

std::optional<WaitReason> ReasonIn(const PassResult& r, JobId id) {
  for (const auto& [job, why] : r.waiting) {
    if (job == id) return why;
  }
  return std::nullopt;
}

bool Started(const PassResult& r, JobId id) {
  for (const StartDecision& s : r.starts) {
    if (s.id == id) return true;
  }
  return false;
}

// Four nodes of 4 GPUs. Running: job 1 on nodes 0-1 until t=100, job 2 on node 2 until t=50.
// The head (job 10) needs all four nodes: its reservation starts at t=100.
class BackfillTest : public ::testing::Test {
 protected:
  BackfillTest() : core_(Backfill()) {
    core_.cluster() = testing::MakeCluster(1, 4, 4);
    EXPECT_TRUE(core_.Adopt(1, {{0, 0xf, true}, {1, 0xf, true}}, Limited(8, 4, 100), 0).ok());
    EXPECT_TRUE(core_.Adopt(2, {{2, 0xf, false}}, Limited(4, 4, 50), 0).ok());
    EXPECT_TRUE(core_.AddPending(10, Limited(16, 4, 1000, /*boost=*/1000000), 0).ok());
  }
  SchedulerCore core_;
};

TEST_F(BackfillTest, ABackfilledJobNeverDelaysTheHeadsReservation) {
  ASSERT_TRUE(core_.AddPending(11, Limited(4, 4, 200), 1).ok());  // would end after t=100
  ASSERT_TRUE(core_.AddPending(12, Req(4, 4), 2).ok());           // no limit: never ends
  ASSERT_TRUE(core_.AddPending(13, Limited(4, 4, 40), 3).ok());   // ends at t=50: fits before
  PassResult r = core_.Schedule(10);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].id, 13);
  EXPECT_EQ(core_.reason(10), WaitReason::kResources);
  EXPECT_EQ(core_.expected_start(10), std::optional<TimeMs>(100));
  EXPECT_EQ(core_.reason(11), WaitReason::kPriority);
  EXPECT_EQ(core_.reason(12), WaitReason::kPriority);

  // Jobs end by their limits; the head starts exactly when its reservation said.
  core_.Finish(2);
  core_.Finish(13);
  EXPECT_TRUE(core_.Schedule(50).starts.empty());
  core_.Finish(1);
  r = core_.Schedule(100);
  ASSERT_TRUE(Started(r, 10));
  EXPECT_FALSE(core_.expected_start(10).has_value());
}

TEST_F(BackfillTest, ALongJobStartsOnANodeTheReservationLeavesOut) {
  // The head now needs three nodes: its reservation takes the nodes jobs 1 and 2 give back, so
  // node 3, free now, is outside it and a job without a limit may start there.
  ASSERT_TRUE(core_.RemovePending(10).ok());
  ASSERT_TRUE(core_.AddPending(10, Limited(12, 4, 1000, 1000000), 0).ok());
  ASSERT_TRUE(core_.AddPending(11, Req(2, 2), 1).ok());
  PassResult r = core_.Schedule(10);
  EXPECT_EQ(core_.expected_start(10), std::optional<TimeMs>(100));
  ASSERT_TRUE(Started(r, 11));
  EXPECT_EQ(r.starts[0].allocation[0].node, 3);
}

TEST_F(BackfillTest, ExplainsThePriorityFactors) {
  std::vector<PriorityFactor> f = core_.Explain(10, 3600 * 1000);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].name, "age");
  EXPECT_GT(f[0].value, 0.0);
  EXPECT_EQ(f[1].name, "fair_share");
  EXPECT_EQ(f[1].value, 1.0);  // no usage accrued yet
  EXPECT_EQ(f[2].name, "job_size");
  EXPECT_EQ(f[2].value, 1.0);  // all 16 GPUs
  EXPECT_EQ(f[4].name, "priority");
  EXPECT_GT(f[4].value, 1000000.0);
  EXPECT_TRUE(core_.Explain(1, 0).empty());  // running, not pending
}

TEST(BackfillQuotaTest, ATenantOverItsQuotaWaitsAndOthersStart) {
  FairShareConfig shares;
  shares.tenants["a"] = {1.0, 4};
  auto policy = Backfill(shares);
  Cluster c = testing::MakeCluster(1, 2, 4);
  JobRequest held = Req(3, 3);
  held.tenant = "a";
  ASSERT_TRUE(c.Allocate(1, {{0, 0x7, false}}).ok());
  std::vector<RunningJob> running = {{1, &held, 0, false}};
  JobRequest a2 = Req(2, 2), b = Req(2, 2), a1 = Req(1, 1);
  a2.tenant = "a";
  a1.tenant = "a";
  b.tenant = "b";
  std::vector<PendingJob> q = {{2, &a2, 0}, {3, &b, 1}, {4, &a1, 2}};
  PassResult r = policy->Schedule(c, q, running, 10);
  EXPECT_EQ(ReasonIn(r, 2), WaitReason::kQuota);  // 3 + 2 > 4
  EXPECT_TRUE(Started(r, 3));
  EXPECT_TRUE(Started(r, 4));  // 3 + 1 == 4
}

TEST(BackfillTopologyTest, RequireOneLeafWaitsWithReasonTopologyAndPreferOneLeafGivesUp) {
  auto policy = Backfill();
  Cluster c = testing::MakeCluster(2, 2, 4);
  ASSERT_TRUE(c.Allocate(1, {{0, 0xf, true}}).ok());
  ASSERT_TRUE(c.Allocate(2, {{2, 0xf, true}}).ok());  // one free node per leaf
  JobRequest required = Req(8, 4), preferred = Req(8, 4);
  required.leaf = LeafConstraint::kRequireOne;
  preferred.leaf = LeafConstraint::kPreferOne;
  preferred.one_leaf_wait_ms = 100;
  std::vector<PendingJob> q = {{10, &required, 0}};
  EXPECT_EQ(ReasonIn(policy->Schedule(c, q, {}, 10), 10), WaitReason::kTopology);
  q = {{11, &preferred, 0}};
  EXPECT_EQ(ReasonIn(policy->Schedule(c, q, {}, 99), 11), WaitReason::kTopology);
  EXPECT_TRUE(Started(policy->Schedule(c, q, {}, 100), 11));
}

TEST(RegistryTest, BuildsEveryPolicyByNameAndNamesTheKnownOnes) {
  for (const std::string& name : PolicyNames()) {
    auto policy = MakePolicy(name);
    ASSERT_TRUE(policy.ok()) << name;
    EXPECT_EQ(name.rfind((*policy)->name(), 0), 0u) << name << " builds " << (*policy)->name();
  }
  EXPECT_EQ(MakePolicy("multifactor-backfill").value()->name(), "multifactor-backfill");
  auto unknown = MakePolicy("fifo");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("multifactor-backfill"), std::string::npos);
}

}  // namespace
}  // namespace loom::sched
