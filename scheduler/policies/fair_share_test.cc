#include "scheduler/policies/fair_share.h"

#include <gtest/gtest.h>

#include <map>

#include "scheduler/core/scheduler_core.h"
#include "scheduler/core/test_cluster.h"
#include "scheduler/policies/backfill.h"
#include "scheduler/policies/gang_placer.h"

namespace loom::sched {
namespace {

TEST(FairShareTest, FactorIsOneWhenIdleAndHalfAtExactlyTheShare) {
  FairShareConfig config;
  config.tenants["a"] = {1.0, 0};
  config.tenants["b"] = {1.0, 0};
  FairShareLedger ledger(config);
  EXPECT_EQ(ledger.Factor("a"), 1.0);
  JobRequest a = testing::Req(4, 4), b = testing::Req(4, 4);
  a.tenant = "a";
  b.tenant = "b";
  std::vector<RunningJob> running = {{1, &a, 0, false}, {2, &b, 0, false}};
  ledger.Advance(running, 0);
  ledger.Advance(running, 1000);
  EXPECT_DOUBLE_EQ(ledger.Factor("a"), 0.5);
  EXPECT_DOUBLE_EQ(ledger.Usage("a"), 4000.0);
  // With nothing running, usage halves every half-life.
  ledger.Advance({}, 1000 + config.half_life_ms);
  EXPECT_NEAR(ledger.Usage("a"), 2000.0, 1e-6);
}

// A ledger restored from a snapshot (loomd restarted) goes on exactly as the original would.
TEST(FairShareTest, RestoredLedgerResumesWithItsDecay) {
  FairShareConfig config;
  config.tenants["a"] = {1.0, 0};
  config.tenants["b"] = {3.0, 0};
  config.half_life_ms = 10'000;
  FairShareLedger original(config);
  EXPECT_TRUE(original.Snapshot().empty());  // nothing to save before the first Advance
  JobRequest a = testing::Req(4, 4), b = testing::Req(2, 2);
  a.tenant = "a";
  b.tenant = "b";
  std::vector<RunningJob> running = {{1, &a, 0, false}, {2, &b, 500, false}};
  original.Advance(running, 0);
  original.Advance(running, 4000);
  const std::vector<TenantUsage> saved = original.Snapshot();
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[0].tenant, "a");
  EXPECT_EQ(saved[0].as_of, 4000);

  FairShareLedger restored(config);
  restored.Restore(saved);
  EXPECT_DOUBLE_EQ(restored.Factor("a"), original.Factor("a"));
  // Both see the same running jobs from the saved time on; the restored one accrues the time
  // between the save and its first Advance, as the re-adopted jobs did run then.
  original.Advance(running, 9000);
  restored.Advance(running, 9000);
  for (const char* t : {"a", "b"}) {
    EXPECT_DOUBLE_EQ(restored.Usage(t), original.Usage(t)) << t;
    EXPECT_DOUBLE_EQ(restored.Factor(t), original.Factor(t)) << t;
  }
  EXPECT_LT(restored.Factor("a"), restored.Factor("b"));  // a used more GPU time with a third of b's weight
}

// A job that ended between two passes still counts up to its end, however long the gap.
TEST(FairShareTest, JobFinishedBetweenPassesCountsUntilItsEnd) {
  FairShareConfig config;
  config.half_life_ms = 1'000'000'000;
  SchedulerCore core(std::make_unique<BackfillPolicy>(
      std::make_unique<GangPlacer>(), MultifactorPriority(PriorityWeights{}, config)));
  core.cluster() = testing::MakeCluster(1, 1, 4);
  JobRequest r = testing::Req(4, 4);
  r.tenant = "t";
  ASSERT_TRUE(core.AddPending(1, r, 0).ok());
  ASSERT_EQ(core.Schedule(0).starts.size(), 1u);
  core.Finish(1, /*end_time=*/3000);
  core.Schedule(10'000);
  const auto usage = core.SaveUsage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_NEAR(usage[0].gpu_ms, 4 * 3000.0, 1.0);  // 4 GPUs for 3 s, not 0 and not 10 s
  EXPECT_EQ(usage[0].as_of, 10'000);
}

// Two tenants with weights 3 and 1 and endless backlogs of equal jobs: over a long run the GPU
// time they get converges to 3:1.
TEST(FairShareTest, UsageConvergesToTheConfiguredWeights) {
  FairShareConfig config;
  config.tenants["big"] = {3.0, 0};
  config.tenants["small"] = {1.0, 0};
  config.half_life_ms = 200'000;
  SchedulerCore core(std::make_unique<BackfillPolicy>(
      std::make_unique<GangPlacer>(), MultifactorPriority(PriorityWeights{}, config)));
  core.cluster() = testing::MakeCluster(1, 2, 4);
  constexpr TimeMs kStep = 1000, kDuration = 10 * kStep;
  std::map<JobId, std::pair<std::string, TimeMs>> running;  // tenant, end
  std::map<std::string, double> gpu_time;
  std::map<std::string, int> waiting;
  std::map<JobId, std::string> tenant_of;
  JobId next = 1;
  for (TimeMs now = 0; now < 3000 * kStep; now += kStep) {
    for (auto it = running.begin(); it != running.end();) {
      if (it->second.second > now) {
        ++it;
        continue;
      }
      core.Finish(it->first);
      it = running.erase(it);
    }
    for (const char* tenant : {"big", "small"}) {  // both always have 8 jobs waiting
      for (; waiting[tenant] < 8; ++waiting[tenant]) {
        JobRequest r = testing::Req(1, 1);
        r.tenant = tenant;
        r.time_limit_ms = kDuration;
        tenant_of[next] = tenant;
        ASSERT_TRUE(core.AddPending(next++, r, now).ok());
      }
    }
    for (const StartDecision& s : core.Schedule(now).starts) {
      running[s.id] = {tenant_of[s.id], now + kDuration};
      --waiting[tenant_of[s.id]];
    }
    if (now >= 1000 * kStep) {  // past the warm-up
      for (const auto& [id, job] : running) gpu_time[job.first] += kStep;
    }
  }
  const double ratio = gpu_time["big"] / gpu_time["small"];
  EXPECT_NEAR(ratio, 3.0, 0.3) << "big " << gpu_time["big"] << " small " << gpu_time["small"];
}

}  // namespace
}  // namespace loom::sched
