// ControlPlane's preemption against a fake clock and fake workers: the victim is told, requeued
// once its ranks are gone, and the plan survives a loomd restart or the victim's node dying.
#include <gtest/gtest.h>

#include "scheduler/service/control_plane_fixture.h"

namespace loom {
namespace {
using test_support::ControlPlaneTest;

TEST_F(ControlPlaneTest, HigherQosPreemptsAndTheVictimIsRequeued) {
  auto [victim, urgent] = StartPreemption();
  const v1::Job running = *cp_->GetJob(victim);
  v1::Job job = *cp_->GetJob(victim);
  EXPECT_EQ(job.state(), v1::RUNNING);  // still running: its ranks get their grace period
  EXPECT_EQ(job.preempted_for(), urgent);
  EXPECT_FALSE(workers_.kills.empty());
  EXPECT_EQ(State(urgent), v1::PENDING);

  // SIGTERM'd ranks exit non-zero; that is not a failure of a preempted job.
  clock_.now += 2000;
  for (const auto& a : running.allocation()) {
    EXPECT_EQ(State(victim), v1::RUNNING);
    Exit(victim, a.node(), 143, "Preempted");
  }
  job = *cp_->GetJob(victim);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.preemptions(), 1);
  // Its run ended there and its work counts as lost; it queues anew from the requeue.
  ASSERT_EQ(job.runs_size(), 1);
  EXPECT_TRUE(job.runs(0).lost());
  EXPECT_EQ(job.runs(0).end_ms(), clock_.now);
  EXPECT_EQ(job.eligible_time_ms(), clock_.now);
  EXPECT_EQ(job.allocation_size(), 0);
  EXPECT_EQ(job.submit_time_ms(), running.submit_time_ms());  // keeps its place by age
  cp_->SchedulePass();
  EXPECT_EQ(State(urgent), v1::RUNNING);

  Open("multifactor-backfill");  // the requeue survives a restart
  EXPECT_EQ(State(victim), v1::PENDING);
  EXPECT_EQ(cp_->GetJob(victim)->preemptions(), 1);
}

// loomd dies after recording a preemption but before its kills reach the workers: the restarted
// loomd sends them again and requeues the victim once its ranks are gone.
TEST_F(ControlPlaneTest, PreemptionInFlightIsFinishedAfterARestart) {
  auto [victim, urgent] = StartPreemption();
  ASSERT_EQ(cp_->GetJob(victim)->preempted_for(), urgent);

  workers_.kills.clear();  // as if loomd crashed before these went out
  Open("multifactor-backfill");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "q" + std::to_string(i), {victim}).ok());
  }
  std::set<std::string> told;
  for (const auto& [address, id] : workers_.kills) {
    EXPECT_EQ(id, victim);
    told.insert(address);
  }
  EXPECT_EQ(told, (std::set<std::string>{"n0:1", "n1:1", "n2:1"}));
  // Heartbeats repeat the kill while the ranks run, in case a Kill call is lost too.
  v1::HeartbeatRequest hb;
  hb.set_node("n1");
  hb.set_session("q1");
  hb.add_running()->set_job_id(victim);
  v1::HeartbeatReply reply = cp_->Heartbeat(hb);
  ASSERT_EQ(reply.kill_size(), 1);
  EXPECT_EQ(reply.kill(0).job_id(), victim);

  // Nothing else is decided while the victim drains.
  EXPECT_EQ(cp_->SchedulePass(true), 0);
  EXPECT_EQ(State(urgent), v1::PENDING);
  EXPECT_EQ(State(victim), v1::RUNNING);

  Exit(victim, "n0", 143, "Preempted");
  Exit(victim, "n1", 143, "Preempted");
  hb.clear_running();
  EXPECT_EQ(cp_->Heartbeat(hb).kill_size(), 0);  // n1's ranks are done
  // n2's worker restarts, its ranks gone with it: that ends the preemption, not the job.
  clock_.now += 6000;
  ASSERT_TRUE(RegisterNode("n2", "restarted", {}).ok());
  v1::Job job = *cp_->GetJob(victim);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.preemptions(), 1);
  EXPECT_FALSE(job.released());
  cp_->SchedulePass();
  EXPECT_EQ(State(urgent), v1::RUNNING);
}

// A victim whose node dies during its grace period has lost nothing more: it is requeued, not
// failed, and the job it made room for starts.
TEST_F(ControlPlaneTest, APreemptionVictimWhoseNodeDiesIsRequeuedNotFailed) {
  auto [victim, urgent] = StartPreemption();
  const v1::Job running = *cp_->GetJob(victim);
  ASSERT_EQ(running.preempted_for(), urgent);
  const std::string lost = running.allocation(2).node();
  for (int i = 0; i < 2; ++i) Exit(victim, running.allocation(i).node(), 143, "Preempted");
  clock_.now += 6000;  // past the node timeout; the two others keep heartbeating
  HeartbeatAllBut(lost, "p");
  cp_->CheckLiveness();
  EXPECT_EQ(State(victim), v1::RUNNING);  // until the lost node's lease ends
  clock_.now += 10'000;
  HeartbeatAllBut(lost, "p");
  cp_->CheckLiveness();
  const v1::Job job = *cp_->GetJob(victim);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.preemptions(), 1);
  EXPECT_TRUE(job.runs(0).lost());
  cp_->SchedulePass();
  EXPECT_EQ(State(urgent), v1::RUNNING);
}

}  // namespace
}  // namespace loom
