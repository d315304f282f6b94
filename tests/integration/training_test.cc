// loom-train as a Loom job on two emulated nodes: its rank 0 reports every step to loomd, and
// loomd's job record, `loom show` and `loom stats` carry the figures.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/train/model_shape.h"
#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

TEST(TrainingJobTest, TwoNodeLoomTrainReportsItsStepsToLoomd) {
  LocalCluster cluster({.workers = 2, .gpus_per_worker = 1});
  ASSERT_TRUE(cluster.Start().ok()) << "cluster did not start";
  const train::ModelShape shape{"tiny", 2, 128, 4, 64, 1024, 2};
  const int steps = 3, warmup = 1;
  auto id = cluster.Submit({"--mpi", "--gpus", "2", "--gpus-per-node", "1", "--name", "train",
                            "--tenant", "research", "-D", cluster.MakeDir("train"), "--time", "5m",
                            "--", LOOM_TRAIN, "--layers", "2", "--hidden", "128", "--heads", "4",
                            "--seq", "64", "--vocab", "1024", "--micro-batch", "2", "--steps",
                            std::to_string(steps), "--warmup", std::to_string(warmup)});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(120));
  ASSERT_TRUE(job.ok()) << job.status().message() << "\n"
                        << cluster.Loom({"logs", std::to_string(*id), "--stderr"}).out;
  ASSERT_EQ(job->state(), v1::COMPLETED) << cluster.Loom({"logs", std::to_string(*id)}).out;

  std::string attempts;
  for (const v1::JobRun& r : job->runs()) {
    attempts += " [attempt " + std::to_string(r.attempt()) + ": " + v1::EndCause_Name(r.cause()) + " " + r.detail() + "]";
  }
  ASSERT_EQ(job->runs_size(), 1) << attempts;
  const v1::JobRun& run = job->runs(0);
  EXPECT_EQ(run.steps(), steps + warmup);
  // The model FLOPs loomd holds are the formula's, for both ranks, for every step.
  EXPECT_DOUBLE_EQ(run.model_flops(), (steps + warmup) * train::ModelFlopsPerStep(shape, 2));
  EXPECT_NEAR(run.compute_s() + run.exposed_comm_s(), run.step_time_s(), 0.1 * run.step_time_s());
  ASSERT_GT(run.peak_flops(), 0);  // both workers calibrated their emulated GPU
  const double mfu = run.model_flops() / (run.step_time_s() * run.peak_flops());
  EXPECT_GT(mfu, 0);
  EXPECT_LE(mfu, 1);
  EXPECT_FALSE(run.lost());
  EXPECT_GT(job->mfu_series_size(), 0);

  v1::GetStatsRequest request;
  request.set_window_ms(3600 * 1000);
  v1::Stats stats;
  grpc::ClientContext ctx;
  ASSERT_TRUE(cluster.stub().GetStats(&ctx, request, &stats).ok());
  EXPECT_DOUBLE_EQ(stats.cluster().model_flops(), run.model_flops());
  EXPECT_GT(stats.cluster().mfu(), 0);
  EXPECT_GT(stats.cluster().goodput(), 0);
  EXPECT_LE(stats.cluster().goodput(), 1);
  EXPECT_GT(stats.cluster().allocation_ratio(), 0);
  ASSERT_EQ(stats.tenants_size(), 1);
  EXPECT_EQ(stats.tenants(0).tenant(), "research");

  CommandResult show = cluster.Loom({"show", std::to_string(*id)});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("MFU  "), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("exposed comm"), std::string::npos) << show.out;
  CommandResult summary = cluster.Loom({"stats", "--since", "1h"});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("cluster MFU"), std::string::npos) << summary.out;
  EXPECT_NE(summary.out.find("research"), std::string::npos) << summary.out;
  CommandResult bad = cluster.Loom({"stats", "--since", "soon"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
}  // namespace loom::testing
