#include "scheduler/accounting/efficiency.h"

#include <gtest/gtest.h>

namespace loom::acct {
namespace {

constexpr TimeMs kS = 1000;

TEST(UsageIntegratorTest, SplitsLevelsExactlyAcrossBuckets) {
  UsageIntegrator integrator(10 * kS);
  integrator.Set(0, {.gpus_up = 8, .peak_flops_up = 8e12});
  integrator.Set(10 * kS, {.gpus_up = 8, .gpus_allocated = 4, .gpus_busy = 2, .peak_flops_up = 8e12});
  integrator.Set(25 * kS, {.gpus_up = 8, .gpus_allocated = 4, .gpus_busy = 2, .gpus_fragmented = 2,
                           .peak_flops_up = 8e12});
  integrator.Set(60 * kS, {.gpus_up = 8, .peak_flops_up = 8e12});
  integrator.AdvanceTo(65 * kS);
  std::vector<UsageBucket> closed = integrator.TakeClosed();
  ASSERT_EQ(closed.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(closed[i].start, i * 10 * kS);
    EXPECT_DOUBLE_EQ(closed[i].gpu_up_s, 80);
    EXPECT_DOUBLE_EQ(closed[i].peak_flop, 8e13);
  }
  EXPECT_DOUBLE_EQ(closed[0].gpu_allocated_s, 0);
  EXPECT_DOUBLE_EQ(closed[1].gpu_allocated_s, 40);
  EXPECT_DOUBLE_EQ(closed[1].gpu_busy_s, 20);
  EXPECT_DOUBLE_EQ(closed[2].gpu_fragmented_s, 10);  // from 25 s to 30 s, 2 GPUs
  EXPECT_DOUBLE_EQ(closed[3].gpu_fragmented_s, 20);
  EXPECT_DOUBLE_EQ(closed[5].gpu_allocated_s, 40);
  EXPECT_TRUE(integrator.TakeClosed().empty());
  EXPECT_EQ(integrator.open().start, 60 * kS);
  EXPECT_DOUBLE_EQ(integrator.open().gpu_up_s, 40);  // 5 s so far
  EXPECT_DOUBLE_EQ(integrator.open().gpu_allocated_s, 0);
}

TEST(UsageIntegratorTest, StartsAtTheFirstCallAndIgnoresClocksSteppingBack) {
  UsageIntegrator integrator(10 * kS);
  integrator.Set(7 * kS, {.gpus_up = 4});
  integrator.AdvanceTo(5 * kS);  // earlier: nothing is integrated
  integrator.AdvanceTo(10 * kS);
  std::vector<UsageBucket> closed = integrator.TakeClosed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].start, 0);
  EXPECT_DOUBLE_EQ(closed[0].gpu_up_s, 12);  // 7 s to 10 s, 4 GPUs
}

// A scripted 100-second timeline on 8 GPUs of 1 TFLOP/s each (10-second buckets):
//  job 1 (tenant a, 4 GPUs): queued at 0, runs 10 s..60 s, 8 s of steps and 1e13 model FLOPs in
//        each of its five buckets;
//  job 2 (tenant b, 2 GPUs): queued at 5 s, runs 20 s..40 s and is preempted (lost; 10 s of steps
//        and 5e12 FLOPs in each of two buckets), queued again at 40 s, runs from 70 s on (three
//        such buckets);
//  job 3 (tenant b): pending, never started;
//  job 4 (tenant a, 1 GPU): no steps reported (not training), queued at 0, runs 30 s..50 s.
// The usage buckets are what the integrator would record; 20 GPU-seconds are fragmented in the
// bucket at 20 s. Each expected figure is worked out by hand in the comments.
class ScriptedTimelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const double allocated[10] = {0, 40, 60, 70, 50, 40, 0, 20, 20, 20};  // sum 320
    for (int i = 0; i < 10; ++i) {
      UsageBucket b{i * 10 * kS, 10 * kS};
      b.gpu_up_s = 80, b.peak_flop = 8e13;
      b.gpu_allocated_s = allocated[i], b.gpu_busy_s = allocated[i] / 2;
      b.gpu_fragmented_s = i == 2 ? 20 : 0;
      usage.push_back(b);
    }
    for (TimeMs t : {10, 20, 30, 40, 50}) steps.push_back({1, 0, t * kS, {10, 8, 6, 1, 1e13}});
    for (TimeMs t : {20, 30}) steps.push_back({2, 0, t * kS, {5, 10, 9, 0.5, 5e12}});
    for (TimeMs t : {70, 80, 90}) steps.push_back({2, 1, t * kS, {5, 10, 9, 0.5, 5e12}});
    jobs[1] = {"a", false, {{0, 10 * kS, 60 * kS, 4, 4e12, false, {50, 40, 30, 5, 5e13}}}};
    jobs[2] = {"b", false,
               {{5 * kS, 20 * kS, 40 * kS, 2, 2e12, true, {10, 20, 18, 1, 1e13}, "preemption"},
                {40 * kS, 70 * kS, 0, 2, 2e12, false, {15, 30, 27, 1.5, 1.5e13}}}};
    jobs[3] = {"b", true, {}};
    jobs[4] = {"a", false, {{0, 30 * kS, 50 * kS, 1, 1e12, false, {}}}};
  }
  std::vector<UsageBucket> usage;
  std::vector<StepBucket> steps;
  std::map<int64_t, JobFacts> jobs;
};

TEST_F(ScriptedTimelineTest, ClusterFiguresMatchHandComputedValues) {
  Figures f = ComputeFigures(0, 100 * kS, 100 * kS, usage, steps, jobs);
  const Efficiency& c = f.cluster;
  EXPECT_DOUBLE_EQ(c.gpu_hours_available, 800.0 / 3600);
  EXPECT_DOUBLE_EQ(c.gpu_hours_allocated, 320.0 / 3600);
  EXPECT_DOUBLE_EQ(c.allocation_ratio, 0.4);      // 320 / 800
  EXPECT_DOUBLE_EQ(c.gpu_busy_ratio, 0.2);        // 160 / 800
  EXPECT_DOUBLE_EQ(c.fragmentation, 0.025);       // 20 / 800
  EXPECT_DOUBLE_EQ(c.fragmented_gpus_mean, 0.2);  // 20 GPU-s over 100 s
  EXPECT_DOUBLE_EQ(c.model_flops, 7.5e13);        // 5·1e13 + 5·5e12
  EXPECT_DOUBLE_EQ(c.mfu, 7.5e13 / 8e14);
  // Training GPU-time: job 1 4·50 + job 2 2·20 + 2·30 (to now) = 300; useful: job 1 4·5·8 = 160,
  // job 2's lost run 0, its second run 2·3·10 = 60.
  EXPECT_DOUBLE_EQ(c.goodput, 220.0 / 300);
  EXPECT_EQ(c.runs_started, 4);
  EXPECT_DOUBLE_EQ(c.queue_delay_mean_s, (10 + 15 + 30 + 30) / 4.0);
  EXPECT_DOUBLE_EQ(c.queue_delay_p95_s, 30);
  // ETTR: useful 220 GPU-s over each training job's first start to end (or now): job 1 4·50,
  // job 2 2·80 (20 s to now at 100 s, the wait between its attempts included) = 360.
  EXPECT_DOUBLE_EQ(c.ettr, 220.0 / 360);
  ASSERT_EQ(c.lost_gpu_hours.size(), 1u);
  EXPECT_DOUBLE_EQ(c.lost_gpu_hours.at("preemption"), 40.0 / 3600);  // job 2's first run, 2·20
}

TEST_F(ScriptedTimelineTest, TenantFiguresMatchHandComputedValues) {
  Figures f = ComputeFigures(0, 100 * kS, 100 * kS, usage, steps, jobs);
  ASSERT_EQ(f.tenants.size(), 2u);
  const TenantEfficiency& a = f.tenants.at("a");
  EXPECT_DOUBLE_EQ(a.efficiency.gpu_hours_allocated, 220.0 / 3600);  // 4·50 + 1·20
  EXPECT_DOUBLE_EQ(a.share_of_allocated, 220.0 / 320);
  EXPECT_DOUBLE_EQ(a.efficiency.mfu, 5e13 / (50 * 4e12 + 20 * 1e12));
  EXPECT_DOUBLE_EQ(a.efficiency.goodput, 160.0 / 200);  // job 4 is not training
  EXPECT_DOUBLE_EQ(a.efficiency.queue_delay_mean_s, 20);
  EXPECT_EQ(a.pending_jobs, 0);
  const TenantEfficiency& b = f.tenants.at("b");
  EXPECT_DOUBLE_EQ(b.efficiency.gpu_hours_allocated, 100.0 / 3600);
  EXPECT_DOUBLE_EQ(b.efficiency.mfu, 2.5e13 / (20 * 2e12 + 30 * 2e12));
  EXPECT_DOUBLE_EQ(b.efficiency.goodput, 60.0 / 100);
  EXPECT_DOUBLE_EQ(b.efficiency.queue_delay_p95_s, 30);
  EXPECT_EQ(b.pending_jobs, 1);
}

TEST_F(ScriptedTimelineTest, AWindowClipsRunsAndBuckets) {
  Figures f = ComputeFigures(50 * kS, 100 * kS, 100 * kS, usage, steps, jobs);
  const Efficiency& c = f.cluster;
  EXPECT_DOUBLE_EQ(c.allocation_ratio, 100.0 / 400);  // 40 + 0 + 20 + 20 + 20 of 5·80
  EXPECT_DOUBLE_EQ(c.model_flops, 1e13 + 3 * 5e12);
  EXPECT_DOUBLE_EQ(c.fragmentation, 0);
  // Job 1 held 4 GPUs for 10 s of the window and stepped 8 s of it; job 2's second run 2·30, all
  // useful.
  EXPECT_DOUBLE_EQ(c.goodput, (32.0 + 60) / (40 + 60));
  EXPECT_EQ(c.runs_started, 1);  // job 2's second start, at 70 s
  EXPECT_DOUBLE_EQ(c.queue_delay_mean_s, 30);
  EXPECT_DOUBLE_EQ(f.tenants.at("a").efficiency.gpu_hours_allocated, 40.0 / 3600);
}

TEST_F(ScriptedTimelineTest, AnEmptyWindowHasUndefinedRatios) {
  Figures f = ComputeFigures(200 * kS, 300 * kS, 300 * kS, {}, {}, {});
  EXPECT_EQ(f.cluster.allocation_ratio, kUndefined);
  EXPECT_EQ(f.cluster.mfu, kUndefined);
  EXPECT_EQ(f.cluster.goodput, kUndefined);
  EXPECT_EQ(f.cluster.runs_started, 0);
  EXPECT_TRUE(f.tenants.empty());
}

TEST(PercentileTest, NearestRank) {
  EXPECT_EQ(Percentile({}, 95), 0);
  EXPECT_EQ(Percentile({3, 1, 2}, 50), 2);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 95), 95);
  EXPECT_EQ(Percentile(hundred, 100), 100);
}

class FragmentationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"n0", "n1", "n2"}) ASSERT_TRUE(cluster.UpsertNode(name, 4, {}).ok());
    // n0: 3 of 4 held (1 idle); n1: 2 held (2 idle); n2: idle.
    ASSERT_TRUE(cluster.Allocate(1, {{0, sched::GpuMask{0b0111}, false}}).ok());
    ASSERT_TRUE(cluster.Allocate(2, {{1, sched::GpuMask{0b0011}, false}}).ok());
  }
  static sched::JobRequest Request(int gpus, int per_node) {
    sched::JobRequest r;
    r.gpus = gpus, r.gpus_per_node = per_node;
    return r;
  }
  sched::Cluster cluster;
};

TEST_F(FragmentationTest, CountsIdleGpusTooFewForTheSmallestPendingJob) {
  EXPECT_EQ(FragmentedGpus(cluster, std::nullopt), 0);
  EXPECT_EQ(FragmentedGpus(cluster, Request(1, 1)), 0);
  EXPECT_EQ(FragmentedGpus(cluster, Request(2, 2)), 1);  // n0's single idle GPU
  EXPECT_EQ(FragmentedGpus(cluster, Request(3, 3)), 3);  // n0's and n1's
  // Multi-node jobs take whole nodes: only n2 can host a part.
  EXPECT_EQ(FragmentedGpus(cluster, Request(8, 4)), 3);
}

TEST_F(FragmentationTest, IgnoresDownNodes) {
  cluster.SetUp(0, false);
  EXPECT_EQ(FragmentedGpus(cluster, Request(3, 3)), 2);
  cluster.SetUp(2, false);
  EXPECT_EQ(FragmentedGpus(cluster, Request(8, 4)), 2);
}

}  // namespace
}  // namespace loom::acct
