// Failure integration tests that need both halves of the lifecycle (loomd's and the worker's):
// loomd dying between commit and Launch, a stopped worker past the node timeout, a failing
// health check. Real loomd, loom-worker and loom processes on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/integration/local_cluster.h"
#include "tests/integration/rank_records.h"

namespace loom::testing {
namespace {

int WorkerIndex(const std::string& node) { return std::stoi(node.substr(5)) - 1; }  // node-<i+1>

std::vector<RankRecord> RecordsOf(const std::vector<RankRecord>& all, int64_t job, int attempt) {
  std::vector<RankRecord> out;
  for (const RankRecord& r : all) {
    if (r.job == job && r.attempt == attempt) out.push_back(r);
  }
  return out;
}

// loomd's fault injection hook (LOOM_FAULT_EXIT_BEFORE_LAUNCH) makes it exit right after the
// pass that starts the job is committed, before the Launch is sent: the worker never hears of
// attempt 1. The restarted loomd finds the worker not listing it, requeues it (WORKER_LOST), and
// attempt 2 runs to COMPLETED — never FAILED.
TEST(FailureTest, LoomdKilledBetweenCommitAndLaunchRunsTheJobAsAttemptTwo) {
  LocalCluster cluster(LocalCluster::Options{.workers = 2});
  ASSERT_EQ(setenv("LOOM_FAULT_EXIT_BEFORE_LAUNCH", "1", 1), 0);
  Status started = cluster.Start();
  unsetenv("LOOM_FAULT_EXIT_BEFORE_LAUNCH");  // the restarted loomd, the CLI: no fault
  ASSERT_TRUE(started.ok()) << started.message();
  // Hold the job while nodes are drained, so that the pass that starts it comes from `resume`,
  // after the submit was acknowledged.
  {
    v1::DrainRequest req;
    req.add_nodes("node-1");
    req.add_nodes("node-2");
    req.set_reason("hold");
    v1::DrainReply reply;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(cluster.stub().Drain(&ctx, req, &reply).ok());
  }
  const std::string dir = cluster.MakeDir("fault");
  auto id = cluster.Submit({"--gpus", "2", "-D", dir, "--", "/bin/sh", "-c", RankScript(2)});
  ASSERT_TRUE(id.ok()) << id.status().message();
  {
    v1::ResumeRequest req;
    req.add_nodes("node-1");
    v1::ResumeReply reply;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    (void)cluster.stub().Resume(&ctx, req, &reply);  // loomd may die before it answers
  }
  const std::string log = cluster.home() + "/loomd.log";
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(log).find("fault injection: exiting") != std::string::npos; },
                        std::chrono::seconds(30))) << ReadFile(log);
  cluster.KillLoomd(SIGKILL);  // reaps it
  ASSERT_TRUE(cluster.StartLoomd().ok());

  auto done = cluster.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status().message() << "\n" << ReadFile(log);
  ASSERT_EQ(done->runs_size(), 2);
  EXPECT_EQ(done->runs(0).cause(), v1::CAUSE_WORKER_LOST) << done->runs(0).detail() << "\n" << ReadFile(log);
  EXPECT_TRUE(done->runs(0).lost());
  EXPECT_EQ(done->runs(1).cause(), v1::CAUSE_COMPLETED);
  const auto records = ReadRankRecords(dir);
  EXPECT_TRUE(RecordsOf(records, *id, 1).empty()) << "attempt 1 was never launched, yet a rank ran";
  EXPECT_EQ(RecordsOf(records, *id, 2).size(), 2u);
}

// A worker stopped past the node timeout: its 1-node job is requeued and restarts elsewhere
// (attempt 2); after SIGCONT the old ranks are dead (the lease), and the stopped node's GPUs go
// to nothing else before they are.
TEST(FailureTest, StoppedWorkersJobRestartsElsewhereAndItsGpusWaitForTheOldRanks) {
  LocalCluster cluster(LocalCluster::Options{.workers = 2});
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("stop");
  auto first = cluster.Submit({"--gpus", "4", "-D", dir, "--", "/bin/sh", "-c", RankScript(0, "0.05", true)});
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto job = cluster.WaitForState(*first, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return RecordsOf(ReadRankRecords(dir), *first, 1).size() == 4; },
                        std::chrono::seconds(20)));
  const std::string stopped = job->allocation(0).node();
  cluster.SignalWorker(WorkerIndex(stopped), SIGSTOP);
  ASSERT_TRUE(cluster.WaitForNodes(1, v1::DOWN).ok());
  ASSERT_TRUE(WaitUntil([&] {
    auto j = cluster.GetJob(*first);
    return j.ok() && j->state() == v1::RUNNING && j->attempt() == 2;
  }, std::chrono::seconds(60)));
  cluster.SignalWorker(WorkerIndex(stopped), SIGCONT);
  // Only the stopped node can take this one (attempt 2 holds the other's GPUs).
  auto second = cluster.Submit({"--gpus", "4", "-D", dir, "--", "/bin/sh", "-c", RankScript(2)});
  ASSERT_TRUE(second.ok());
  auto second_done = cluster.WaitForState(*second, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(second_done.ok()) << second_done.status().message();
  EXPECT_EQ(second_done->allocation(0).node(), stopped);
  std::ofstream(dir + "/go") << "go\n";
  auto first_done = cluster.WaitForState(*first, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(first_done.ok()) << first_done.status().message();
  EXPECT_EQ(first_done->runs_size(), 2);
  EXPECT_NE(first_done->runs(1).nodes(0), stopped);

  const auto records = ReadRankRecords(dir);
  const auto old_ranks = RecordsOf(records, *first, 1);
  ASSERT_EQ(old_ranks.size(), 4u);
  for (const RankRecord& later : RecordsOf(records, *second, 1)) {
    for (const RankRecord& old : old_ranks) {
      EXPECT_GT(later.start_ns, old.end_ns) << "job " << *second << " started on " << stopped
                                            << " while attempt 1 still ran there";
    }
  }
  for (const std::string& v : AttemptOverlaps(records)) ADD_FAILURE() << v;
  for (const std::string& v : GpuOverlaps(records)) ADD_FAILURE() << v;
}

// A Launch sent to a worker that was stopped at that moment waits in its socket. loomd gives up
// on it (the node goes DOWN, its lease ends, the job starts again elsewhere); when the worker
// wakes, that Launch must start nothing: its lease ran out, so it takes no launch until it has
// registered again, and loomd's fence covers it (worker/launch_fence.h). The chaos test found
// a late Launch starting attempt 1 while attempt 3 ran. (gRPC may drop the expired call before
// its handler runs; where it runs, JobRunnerTest.ADroppedRegistration... is the refusal.)
TEST(FailureTest, ALaunchThatWaitedInAStoppedWorkerStartsNothingWhenItWakes) {
  LocalCluster cluster(LocalCluster::Options{.workers = 2});
  ASSERT_TRUE(cluster.Start().ok());
  const std::string hold = cluster.MakeDir("hold"), dir = cluster.MakeDir("late");
  auto blocker = cluster.Submit({"--gpus", "4", "-D", hold, "--", "/bin/sh", "-c", RankScript(0, "0.05", true)});
  ASSERT_TRUE(blocker.ok()) << blocker.status().message();
  auto held = cluster.WaitForState(*blocker, v1::RUNNING);
  ASSERT_TRUE(held.ok());
  const std::string busy = held->allocation(0).node();
  const std::string stopped = busy == "node-1" ? "node-2" : "node-1";
  cluster.SignalWorker(WorkerIndex(stopped), SIGSTOP);
  auto job = cluster.Submit({"--gpus", "4", "-D", dir, "--", "/bin/sh", "-c", RankScript(0, "0.05", true)});
  ASSERT_TRUE(job.ok()) << job.status().message();
  ASSERT_TRUE(WaitUntil([&] {  // attempt 1 went to the stopped node, the only one with room
    auto j = cluster.GetJob(*job);
    return j.ok() && j->runs_size() >= 1;
  }, std::chrono::seconds(20)));
  EXPECT_EQ(cluster.GetJob(*job)->runs(0).nodes(0), stopped);
  ASSERT_TRUE(WaitUntil([&] {  // DOWN, then past its lease: requeued
    auto j = cluster.GetJob(*job);
    return j.ok() && j->requeues() == 1;
  }, std::chrono::seconds(30)));
  std::ofstream(hold + "/go") << "go\n";
  ASSERT_TRUE(WaitUntil([&] {
    auto j = cluster.GetJob(*job);
    return j.ok() && j->state() == v1::RUNNING && j->attempt() == 2 &&
           RecordsOf(ReadRankRecords(dir), *job, 2).size() == 4;
  }, std::chrono::seconds(30)));
  cluster.SignalWorker(WorkerIndex(stopped), SIGCONT);
  // Once the woken node has run a job of its own, the Launch that waited there has been handled.
  auto after = cluster.Submit({"--gpus", "4", "-D", cluster.MakeDir("after"), "--", "/bin/true"});
  ASSERT_TRUE(after.ok());
  auto after_done = cluster.WaitForState(*after, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(after_done.ok()) << after_done.status().message();
  EXPECT_EQ(after_done->allocation(0).node(), stopped);
  std::ofstream(dir + "/go") << "go\n";
  auto done = cluster.WaitForState(*job, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status().message();
  const auto records = ReadRankRecords(dir);
  EXPECT_TRUE(RecordsOf(records, *job, 1).empty()) << "the late Launch of attempt 1 started ranks";
  for (const std::string& v : AttemptOverlaps(records)) ADD_FAILURE() << v;
}

// `--health-check`: the program starts failing on one node → DRAINED with its first output line
// as the reason, the node's job requeued (HEALTH_DRAIN) and completed on the other node.
TEST(FailureTest, FailingHealthCheckDrainsTheNodeAndItsJobCompletesElsewhere) {
  char tmpl[] = "/tmp/loom-health-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string flags = tmpl;
  const std::string check = flags + "/check.sh";
  // A flag file named by a worker's pid makes that node fail: the check looks for its nearest
  // ancestors' (the loom-worker, maybe through a shell).
  std::ofstream(check) << "p=$PPID; for i in 1 2 3; do if [ -e " << flags << "/fail.$p ]; then "
                       << "echo 'ECC errors on GPU 2'; echo 'second line'; exit 1; fi; "
                       << "p=$(cut -d' ' -f4 /proc/$p/stat); done\nexit 0\n";
  LocalCluster::Options options;
  options.workers = 2;
  options.worker_args = {"--health-check", "/bin/sh " + check, "--health-interval", "1s"};
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("health");
  // Attempt 1 waits for the drain; attempt 2 ends at once.
  auto id = cluster.Submit({"--gpus", "4", "-D", dir, "--", "/bin/sh", "-c",
                            "if [ $LOOM_JOB_RUN = 1 ]; then echo started > started.$RANK; exec sleep 300; fi"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitForFile(dir + "/started.0"));
  const std::string sick = job->allocation(0).node();
  std::ofstream(flags + "/fail." + std::to_string(cluster.worker_pid(WorkerIndex(sick)))) << "x\n";

  ASSERT_TRUE(cluster.WaitForNodes(1, v1::DRAINED, std::chrono::seconds(60)).ok());
  auto done = cluster.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(90));
  ASSERT_TRUE(done.ok()) << done.status().message();
  ASSERT_EQ(done->runs_size(), 2);
  EXPECT_EQ(done->runs(0).cause(), v1::CAUSE_HEALTH_DRAIN);
  EXPECT_NE(done->runs(1).nodes(0), sick);
  CommandResult nodes = cluster.Loom({"nodes"});
  EXPECT_NE(nodes.out.find("ECC errors on GPU 2"), std::string::npos) << nodes.out;
  EXPECT_EQ(nodes.out.find("second line"), std::string::npos) << nodes.out;
  std::filesystem::remove_all(flags);
}

}  // namespace
}  // namespace loom::testing
