// ControlPlane's efficiency accounting against a fake clock: GPU-hours available and allocated,
// MFU, goodput, step reports, fragmentation, lost runs, and fair-share usage across a restart.
#include <gtest/gtest.h>

#include "scheduler/service/control_plane_fixture.h"

namespace loom {
namespace {
using test_support::ControlPlaneTest;

// The GPUs available follow nodes joining and going DOWN: 12 GPUs for 40 s, and a fourth node's 4
// from its registration at 10 s until it is DOWN at 16 s. (The levels are recounted only after a
// node changed; a missed recount shows here.)
TEST_F(ControlPlaneTest, AvailableGpuHoursFollowNodesJoiningAndGoingDown) {
  const int64_t t0 = clock_.now;
  cp_->SchedulePass(true);
  clock_.now = t0 + 10'000;
  HeartbeatAllBut("");
  ASSERT_TRUE(RegisterNode("n3", "x", {}).ok());
  cp_->SchedulePass();
  clock_.now = t0 + 14'000;
  HeartbeatAllBut("");
  clock_.now = t0 + 16'000;
  cp_->CheckLiveness();
  cp_->SchedulePass();
  for (const v1::Node& n : cp_->ListNodes()) {
    EXPECT_EQ(n.state() == v1::DOWN, n.name() == "n3") << n.name();
  }
  clock_.now = t0 + 40'000;
  v1::GetStatsRequest request;
  request.set_window_ms(40'000);
  auto stats = cp_->GetStats(request);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_DOUBLE_EQ(stats->cluster().gpu_hours_available(), (12 * 40 + 4 * 6) / 3600.0);
}

// The efficiency figures over a scripted timeline on the fixture's 12 GPUs of 1 TFLOP/s each, with
// 10-second metrics buckets: a 4-GPU job of tenant "a" runs 20 s and reports two 4-second steps of
// 2e12 model FLOPs each; the window is the 40 s from its start.
TEST_F(ControlPlaneTest, StatsOverAScriptedTimelineMatchHandComputedFigures) {
  const int64_t t0 = clock_.now;
  v1::JobSpec spec;
  spec.set_gpus(4);
  spec.set_tenant("a");
  spec.add_command("/bin/true");
  const int64_t id = *cp_->Submit(spec);
  ASSERT_EQ(cp_->SchedulePass(), 1);
  clock_.now = t0 + 10'000;
  v1::ReportStepsRequest report;
  report.set_job_id(id);
  report.set_run(0);
  for (int i = 0; i < 2; ++i) {
    v1::StepSample* step = report.add_steps();
    step->set_step_s(4), step->set_compute_s(3), step->set_exposed_comm_s(0.5);
    step->set_model_flops(2e12), step->set_busbw_gbps(1.5);
  }
  ASSERT_TRUE(cp_->ReportSteps(report).ok());
  clock_.now = t0 + 20'000;
  Exit(id, cp_->GetJob(id)->allocation(0).node(), 0);
  cp_->SchedulePass();
  clock_.now = t0 + 40'000;

  auto check = [&](const v1::Stats& stats) {
    SCOPED_TRACE(stats.ShortDebugString());
    const v1::Efficiency& c = stats.cluster();
    EXPECT_DOUBLE_EQ(c.gpu_hours_available(), 12 * 40 / 3600.0);
    EXPECT_DOUBLE_EQ(c.allocation_ratio(), 80.0 / 480);  // 4 GPUs for 20 s of 12 for 40 s
    EXPECT_DOUBLE_EQ(c.model_flops(), 4e12);
    EXPECT_DOUBLE_EQ(c.mfu(), 4e12 / (12e12 * 40));
    EXPECT_DOUBLE_EQ(c.goodput(), 8.0 * 4 / 80);          // 8 s of steps on 4 GPUs of 80 GPU-s
    EXPECT_EQ(c.runs_started(), 1);
    EXPECT_DOUBLE_EQ(c.queue_delay_mean_s(), 0);
    ASSERT_EQ(stats.tenants_size(), 1);
    EXPECT_EQ(stats.tenants(0).tenant(), "a");
    EXPECT_DOUBLE_EQ(stats.tenants(0).share_of_allocated(), 1);
    EXPECT_DOUBLE_EQ(stats.tenants(0).efficiency().mfu(), 4e12 / (4e12 * 20));
  };
  v1::GetStatsRequest request;
  request.set_window_ms(40'000);
  auto stats = cp_->GetStats(request);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->window_start_ms(), t0);
  check(*stats);

  v1::Job job = *cp_->GetJob(id);
  ASSERT_EQ(job.runs_size(), 1);
  EXPECT_EQ(job.runs(0).steps(), 2);
  EXPECT_DOUBLE_EQ(job.runs(0).exposed_comm_s(), 1);
  EXPECT_FALSE(job.runs(0).lost());
  ASSERT_EQ(job.mfu_series_size(), 1);
  EXPECT_DOUBLE_EQ(job.mfu_series(0), 4e12 / (8 * 4e12));

  // The series and the run totals survive a restart of loomd.
  cp_->FlushMetrics();
  Open();
  request.set_end_ms(t0 + 40'000);
  stats = cp_->GetStats(request);
  ASSERT_TRUE(stats.ok());
  check(*stats);
  EXPECT_EQ(cp_->GetJob(id)->runs(0).steps(), 2);
  EXPECT_EQ(cp_->GetJob(id)->mfu_series_size(), 1);
}

TEST_F(ControlPlaneTest, BadStepReportsAreRefusedAndChangeNothing) {
  const int64_t id = *Submit(4);
  v1::ReportStepsRequest report;
  report.set_job_id(id);
  report.add_steps()->set_step_s(1);
  EXPECT_EQ(cp_->ReportSteps(report).code(), StatusCode::kInvalidArgument);  // pending: no run yet
  ASSERT_EQ(cp_->SchedulePass(), 1);
  report.set_job_id(99);
  EXPECT_EQ(cp_->ReportSteps(report).code(), StatusCode::kNotFound);
  report.set_job_id(id);
  report.set_run(1);
  EXPECT_EQ(cp_->ReportSteps(report).code(), StatusCode::kInvalidArgument);
  report.set_run(0);
  report.add_steps()->set_step_s(-1);
  EXPECT_EQ(cp_->ReportSteps(report).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cp_->GetJob(id)->runs(0).steps(), 0);
  v1::GetStatsRequest bad;
  bad.set_window_ms(-1);
  EXPECT_EQ(cp_->GetStats(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, FragmentedGpusAreIdleOnesTheSmallestPendingJobCannotUse) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Submit(3).ok());  // one per node, 1 GPU left on each
  ASSERT_EQ(cp_->SchedulePass(), 3);
  EXPECT_EQ(cp_->GetStats()->gpus_fragmented(), 0);  // nothing waits
  ASSERT_TRUE(Submit(2).ok());
  EXPECT_EQ(cp_->SchedulePass(), 0);
  EXPECT_EQ(cp_->GetStats()->gpus_fragmented(), 3);
}

TEST_F(ControlPlaneTest, AFailedRunIsLostAndCarriesThePeakOfItsGpus) {
  const int64_t id = *Submit(4);
  ASSERT_EQ(cp_->SchedulePass(), 1);
  clock_.now += 5000;
  Exit(id, cp_->GetJob(id)->allocation(0).node(), 3);
  v1::Job job = *cp_->GetJob(id);
  ASSERT_EQ(job.runs_size(), 1);
  EXPECT_TRUE(job.runs(0).lost());
  EXPECT_EQ(job.runs(0).end_ms(), clock_.now);
  EXPECT_EQ(job.runs(0).peak_flops(), 4e12);
}

// The decayed fair-share usage outlives loomd: after a restart the tenant that used the cluster
// still waits behind one that did not, although it submitted first.
TEST_F(ControlPlaneTest, FairShareOrderSurvivesARestart) {
  ReopenWithWorkers("multifactor-backfill", "f");
  auto whole_cluster = [](const std::string& tenant) {
    v1::JobSpec spec;
    spec.set_gpus(12);
    spec.set_time_limit_s(4 * 3600);
    spec.set_tenant(tenant);
    spec.add_command("/bin/true");
    return spec;
  };
  int64_t used = *cp_->Submit(whole_cluster("heavy"));
  cp_->SchedulePass();
  ASSERT_EQ(State(used), v1::RUNNING);
  clock_.now += 3600 * 1000;  // heavy holds all 12 GPUs for an hour
  for (int i = 0; i < 3; ++i) Exit(used, "n" + std::to_string(i), 0);
  ASSERT_EQ(State(used), v1::COMPLETED);
  int64_t blocker = *cp_->Submit(whole_cluster("ops"));  // keeps the next two waiting
  cp_->SchedulePass();
  ASSERT_EQ(State(blocker), v1::RUNNING);
  clock_.now += 1000;
  int64_t heavy = *cp_->Submit(whole_cluster("heavy"));
  clock_.now += 1000;
  int64_t light = *cp_->Submit(whole_cluster("light"));
  cp_->SchedulePass();

  Open("multifactor-backfill");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "g" + std::to_string(i), {blocker}).ok());
  }
  auto fair_share = [&](int64_t id) {
    const v1::Job job = *cp_->GetJob(id);
    for (const auto& f : job.priority_factors()) {
      if (f.name() == "fair_share") return f.value();
    }
    return -1.0;
  };
  EXPECT_LT(fair_share(heavy), 0.6);  // about half: heavy used (nearly) all the GPU time
  EXPECT_EQ(fair_share(light), 1.0);
  clock_.now += 60 * 1000;
  for (int i = 0; i < 3; ++i) Exit(blocker, "n" + std::to_string(i), 0);
  workers_.launches.clear();
  cp_->SchedulePass();
  EXPECT_EQ(State(light), v1::RUNNING);
  EXPECT_EQ(State(heavy), v1::PENDING);  // submitted first, but behind on fair share
}

}  // namespace
}  // namespace loom
