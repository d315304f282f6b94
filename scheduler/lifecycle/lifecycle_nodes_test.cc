// The lifecycle's nodes: failure and partition safety, heartbeats reconciling both ways, health
// drains, drain and resume, table-driven on plain maps (no store, no clock).
#include <gtest/gtest.h>

#include "scheduler/lifecycle/lifecycle.h"
#include "scheduler/lifecycle/lifecycle_test_fixture.h"

namespace loom::lifecycle {
namespace {
using test_support::kNow;
using test_support::LifecycleTest;
using test_support::MapView;

// --- node failure and partition safety

TEST_F(LifecycleTest, DownNodeHoldsItsGpusUntilItsLeaseEnds) {
  Running(1, {"n0", "n1"});
  Edit down = lc.OnNodeExpired(view, "n0", kNow);
  EXPECT_EQ(down.nodes.at("n0").state(), v1::DOWN);
  const v1::Job& stopping = down.jobs.at(1);
  EXPECT_EQ(PhaseOf(stopping), Phase::kPreempting);
  EXPECT_EQ(stopping.runs(0).cause(), v1::CAUSE_NODE_FAIL);
  EXPECT_EQ(Kills(down, "n1"), 1);  // the healthy node stops its ranks
  EXPECT_EQ(Kills(down, "n0"), 0);  // unreachable
  view.Apply(down);
  Edit other = lc.OnRanksExited(view, Exit(1, "n1", 143), kNow + 1);
  EXPECT_EQ(other.jobs.at(1).state(), v1::RUNNING);  // n0 may still run attempt 1: not requeued
  EXPECT_FALSE(HasCore(other, CoreChange::kRequeue, 1));
  view.Apply(other);
  Edit lease = lc.OnLeaseExpired(view, "n0", kNow + 2);
  EXPECT_EQ(lease.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(lease.jobs.at(1).requeues(), 1);
  EXPECT_TRUE(HasCore(lease, CoreChange::kRequeue, 1));
  view.Apply(lease);
  EXPECT_FALSE(lc.OnLeaseExpired(view, "n0", kNow + 3).writes());  // nothing left to presume gone
}

TEST_F(LifecycleTest, HealedPartitionKillsTheOldAttemptBeforeTheGpusReturn) {
  Running(1, {"n0"});
  view.Apply(lc.OnNodeExpired(view, "n0", kNow));
  std::vector<v1::JobAttempt> running(1);
  running[0].set_job_id(1);
  running[0].set_attempt(1);
  Edit back = lc.OnRegister(view, view.nodes.at("n0"), running, kNow + 1);
  EXPECT_EQ(back.nodes.at("n0").state(), v1::UP);
  EXPECT_EQ(Kills(back, "n0"), 1);                  // it still runs attempt 1: stop it
  EXPECT_EQ(back.jobs.count(1), 0u);                // and keep holding the GPUs
  view.Apply(back);
  Edit exited = lc.OnRanksExited(view, Exit(1, "n0", 137), kNow + 2);
  EXPECT_EQ(exited.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(exited.jobs.at(1).runs(0).cause(), v1::CAUSE_NODE_FAIL);
}

TEST_F(LifecycleTest, ANodeBackWithRanksLoomdGaveUpOnIsFencedUntilTheyAreGone) {
  Running(1, {"n1"}, /*attempt=*/2);  // attempt 1 ran on n0, which went DOWN past its lease
  view.Apply(lc.OnNodeExpired(view, "n0", kNow));
  std::vector<v1::JobAttempt> old(1);
  old[0].set_job_id(1);
  old[0].set_attempt(1);
  Edit back = lc.OnRegister(view, view.nodes.at("n0"), old, kNow + 1);
  ASSERT_EQ(back.core.size(), 1u);
  EXPECT_FALSE(back.core[0].placeable);
  view.Apply(back);
  MissCounts misses;
  auto still = lc.OnHeartbeat(view, "n0", old, {}, {}, misses, kNow + 2);
  ASSERT_EQ(still.kill.size(), 1u);  // told again to kill attempt 1
  EXPECT_TRUE(still.edit.core.empty());
  auto gone = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 3);
  ASSERT_EQ(gone.edit.core.size(), 1u);
  EXPECT_TRUE(gone.edit.core[0].placeable);
  view.Apply(gone.edit);
  EXPECT_TRUE(lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 4).edit.core.empty());
}

TEST_F(LifecycleTest, RegisterWithoutTheAttemptIsWorkerLostAndRequeues) {
  Running(1, {"n0"});  // e.g. loomd committed the start and restarted before its Launch
  Edit e = lc.OnRegister(view, view.nodes.at("n0"), {}, kNow);
  EXPECT_EQ(e.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(e.jobs.at(1).runs(0).cause(), v1::CAUSE_WORKER_LOST);
  std::vector<v1::JobAttempt> running(1);
  running[0].set_job_id(1);
  running[0].set_attempt(1);
  view.jobs.clear();
  Running(1, {"n0"});
  Edit kept = lc.OnRegister(view, view.nodes.at("n0"), running, kNow);
  EXPECT_EQ(kept.jobs.count(1), 0u);
  EXPECT_EQ(Kills(kept, "n0"), 0);
}

// --- heartbeats reconcile both ways

TEST_F(LifecycleTest, HeartbeatsKillWhatLoomdDoesNotHoldAndLoseWhatTheyStopListing) {
  Running(1, {"n0"}, /*attempt=*/2);
  Running(2, {"n0"});
  std::vector<v1::JobAttempt> running(3);
  running[0].set_job_id(1);
  running[0].set_attempt(1);  // an old attempt of job 1
  running[1].set_job_id(2);
  running[1].set_attempt(1);
  running[2].set_job_id(77);  // unknown
  MissCounts misses;
  auto first = lc.OnHeartbeat(view, "n0", running, {}, {}, misses, kNow);
  ASSERT_EQ(first.kill.size(), 2u);
  EXPECT_EQ(first.kill[0].job_id(), 1);
  EXPECT_EQ(first.kill[0].attempt(), 1);
  EXPECT_EQ(first.kill[1].job_id(), 77);
  EXPECT_FALSE(first.edit.writes());  // job 1 attempt 2 missed once: not yet gone
  EXPECT_EQ(misses.at(1), 1);
  auto second = lc.OnHeartbeat(view, "n0", running, {}, {}, misses, kNow + 1000);
  ASSERT_EQ(second.edit.jobs.count(1), 1u);
  EXPECT_EQ(second.edit.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(second.edit.jobs.at(1).runs(1).cause(), v1::CAUSE_WORKER_LOST);
  EXPECT_EQ(second.edit.jobs.count(2), 0u);  // listed every time
}

// A Launch still on its way (the worker's launch mark is below it) is not missed: the chaos
// test saw a Launch delivered seconds late, after two heartbeats had "lost" its ranks.
TEST_F(LifecycleTest, AJobWhoseLaunchTheWorkerHasNotReachedIsNotMissed) {
  Running(1, {"n0"});
  MissCounts misses;
  for (int i = 0; i < 3; ++i) {
    auto hb = lc.OnHeartbeat(view, "n0", {}, {}, /*unmarked=*/{1}, misses, kNow + i);
    EXPECT_FALSE(hb.edit.writes()) << "heartbeat " << i;
  }
  EXPECT_EQ(misses.count(1), 0u);
  (void)lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 3);  // the mark has passed it
  auto gone = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 4);
  ASSERT_EQ(gone.edit.jobs.count(1), 1u);
  EXPECT_EQ(gone.edit.jobs.at(1).runs(0).cause(), v1::CAUSE_WORKER_LOST);
}

// A Launch that timed out may have started the ranks: the attempt stops everywhere, but the
// node is not taken for quiet until it says so (here: its exit report after the kill).
TEST_F(LifecycleTest, AnUncertainLaunchStopsTheAttemptButWaitsForTheNode) {
  Running(1, {"n0", "n1"});
  Edit uncertain = lc.OnLaunchUncertain(view, 1, 1, "n1", "n1: deadline exceeded", kNow);
  const v1::Job& stopping = uncertain.jobs.at(1);
  EXPECT_EQ(PhaseOf(stopping), Phase::kPreempting);
  EXPECT_EQ(stopping.runs(0).cause(), v1::CAUSE_LAUNCH_FAILED);
  EXPECT_EQ(stopping.exited_nodes_size(), 0);
  EXPECT_EQ(Kills(uncertain, "n0"), 1);
  EXPECT_EQ(Kills(uncertain, "n1"), 1);  // in case its ranks did start
  view.Apply(uncertain);
  EXPECT_FALSE(view.Placeable("n1"));
  EXPECT_FALSE(lc.OnLaunchUncertain(view, 1, 1, "n1", "again", kNow + 1).writes());  // already stopping
  view.Apply(lc.OnRanksExited(view, Exit(1, "n0", 143), kNow + 2));
  EXPECT_EQ(view.job(1)->state(), v1::RUNNING);  // n1 may still run it
  Edit last = lc.OnRanksExited(view, Exit(1, "n1", 143), kNow + 3);
  EXPECT_EQ(last.jobs.at(1).state(), v1::PENDING);
  EXPECT_TRUE(HasCore(last, CoreChange::kRequeue, 1));
}

TEST(LaunchWantedTest, OnlyTheCurrentRunningAttemptOnANodeNotKnownQuiet) {
  v1::Job j;
  j.set_state(v1::RUNNING);
  j.set_attempt(2);
  j.add_runs();
  j.add_allocation()->set_node("n0");
  j.add_allocation()->set_node("n1");
  EXPECT_TRUE(LaunchWanted(j, 2, "n0"));
  EXPECT_FALSE(LaunchWanted(j, 1, "n0"));  // an older attempt
  EXPECT_FALSE(LaunchWanted(j, 2, "n2"));  // not its node
  j.add_exited_nodes("n1");
  EXPECT_FALSE(LaunchWanted(j, 2, "n1"));
  j.mutable_runs(0)->set_cause(v1::CAUSE_NODE_FAIL);  // being stopped
  EXPECT_FALSE(LaunchWanted(j, 2, "n0"));
}

TEST_F(LifecycleTest, AListedJobResetsItsMissCount) {
  Running(1, {"n0"});
  std::vector<v1::JobAttempt> listed(1);
  listed[0].set_job_id(1);
  listed[0].set_attempt(1);
  MissCounts misses;
  (void)lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow);
  (void)lc.OnHeartbeat(view, "n0", listed, {}, {}, misses, kNow);
  auto third = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow);
  EXPECT_FALSE(third.edit.writes());  // two misses, but not in a row
}

TEST_F(LifecycleTest, FailingHealthDrainsAndRequeuesAndAHealthyReportDoesNotResume) {
  Running(1, {"n0"});
  std::vector<v1::JobAttempt> listed(1);
  listed[0].set_job_id(1);
  listed[0].set_attempt(1);
  v1::NodeHealth sick;
  sick.set_failing(true);
  sick.set_reason("gpu 2: ECC errors");
  MissCounts misses;
  auto hb = lc.OnHeartbeat(view, "n0", listed, sick, {}, misses, kNow);
  EXPECT_EQ(hb.edit.nodes.at("n0").state(), v1::DRAINING);
  EXPECT_TRUE(hb.edit.nodes.at("n0").drain());
  EXPECT_EQ(hb.edit.nodes.at("n0").reason(), "gpu 2: ECC errors");
  EXPECT_EQ(hb.edit.jobs.at(1).runs(0).cause(), v1::CAUSE_HEALTH_DRAIN);
  EXPECT_EQ(Kills(hb.edit, "n0"), 1);
  view.Apply(hb.edit);
  Edit exited = lc.OnRanksExited(view, Exit(1, "n0", 143), kNow + 1);
  EXPECT_EQ(exited.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(exited.nodes.at("n0").state(), v1::DRAINED);
  view.Apply(exited);
  auto healthy = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 2);
  EXPECT_FALSE(healthy.edit.writes());
  EXPECT_EQ(view.nodes.at("n0").state(), v1::DRAINED);
}

// --- drain, resume

TEST_F(LifecycleTest, DrainWaitsForRunningJobsAndResumeMakesTheNodePlaceable) {
  Running(1, {"n1"});
  auto unknown = lc.OnDrain(view, {"n0", "nX"}, "r", false, kNow);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  auto drained = lc.OnDrain(view, {"n0", "n1"}, "maintenance", false, kNow);
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->nodes.at("n0").state(), v1::DRAINED);   // idle
  EXPECT_EQ(drained->nodes.at("n1").state(), v1::DRAINING);  // job 1 runs on
  EXPECT_EQ(drained->nodes.at("n1").reason(), "maintenance");
  EXPECT_TRUE(drained->calls.empty());                       // without --requeue nothing is killed
  EXPECT_EQ(drained->jobs.count(1), 0u);
  view.Apply(*drained);
  Edit done = lc.OnRanksExited(view, Exit(1, "n1", 0), kNow + 1);
  EXPECT_EQ(done.jobs.at(1).state(), v1::COMPLETED);
  EXPECT_EQ(done.nodes.at("n1").state(), v1::DRAINED);
  view.Apply(done);
  auto resumed = lc.OnResume(view, {"n1"}, kNow + 2);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->nodes.at("n1").state(), v1::UP);
  EXPECT_FALSE(resumed->nodes.at("n1").drain());
  ASSERT_EQ(resumed->core.size(), 1u);
  EXPECT_TRUE(resumed->core[0].placeable);
  EXPECT_EQ(lc.OnResume(view, {"nope"}, kNow).status().code(), StatusCode::kNotFound);
}

TEST_F(LifecycleTest, DrainWithRequeueStopsTheJobsWithGrace) {
  v1::Job& j = Running(1, {"n0"});
  j.mutable_spec()->set_grace_s(10);
  auto e = lc.OnDrain(view, {"n0"}, "swap PSU", true, kNow);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(Kills(*e, "n0"), 1);
  EXPECT_EQ(e->calls[0].kill.grace_ms(), 10000);
  EXPECT_EQ(e->jobs.at(1).runs(0).cause(), v1::CAUSE_HEALTH_DRAIN);
  EXPECT_EQ(PhaseOf(e->jobs.at(1)), Phase::kPreempting);
}

TEST_F(LifecycleTest, RegisteringKeepsADrain) {
  view.Apply(*lc.OnDrain(view, {"n2"}, "bad fan", false, kNow));
  Edit e = lc.OnRegister(view, view.nodes.at("n2"), {}, kNow + 1);
  EXPECT_TRUE(e.nodes.at("n2").drain());
  EXPECT_EQ(e.nodes.at("n2").state(), v1::DRAINED);
  EXPECT_EQ(e.nodes.at("n2").reason(), "bad fan");
}

}  // namespace
}  // namespace loom::lifecycle
