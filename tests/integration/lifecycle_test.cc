// The job lifecycle end to end: node failure requeues, --no-requeue ends NODE_FAIL, drain and
// resume, time limits end TIMEOUT. Real loomd, loom-worker and loom processes on loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {


class LifecycleIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }
  LocalCluster cluster_;
};

// The first attempt's ranks wait forever; a later attempt's ranks succeed.
const char* kFirstAttemptHangs =
    "if [ ! -f first.$RANK ]; then touch first.$RANK; echo $$ > pid.$RANK; exec sleep 300; fi";

TEST_F(LifecycleIntegrationTest, WorkerKilledUnderATwoNodeJobRequeuesItAndAttemptTwoCompletes) {
  const std::string dir = cluster_.MakeDir("node-fail");
  auto id = cluster_.Submit({"--gpus", "8", "--gpus-per-node", "4", "-D", dir, "--", "/bin/sh", "-c",
                             kFirstAttemptHangs});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  for (int r = 0; r < 8; ++r) ASSERT_TRUE(WaitForFile(dir + "/pid." + std::to_string(r)));
  const std::string victim = job->allocation(1).node();  // node-<i+1>
  cluster_.KillWorker(std::stoi(victim.substr(5)) - 1, SIGKILL);

  EXPECT_TRUE(cluster_.WaitForNodes(1, v1::DOWN).ok());
  auto done = cluster_.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status().message();
  ASSERT_EQ(done->runs_size(), 2);
  EXPECT_EQ(done->attempt(), 2);
  EXPECT_EQ(done->requeues(), 1);
  EXPECT_EQ(done->runs(0).cause(), v1::CAUSE_NODE_FAIL);
  EXPECT_TRUE(done->runs(0).lost());
  EXPECT_EQ(done->runs(1).cause(), v1::CAUSE_COMPLETED);
  // Attempt 2 started only after attempt 1's ranks were presumed gone, and not on the dead node.
  EXPECT_GE(done->runs(1).start_ms(), done->runs(0).end_ms());
  for (const std::string& n : done->runs(1).nodes()) EXPECT_NE(n, victim);
  CommandResult show = cluster_.Loom({"show", std::to_string(*id)});
  EXPECT_NE(show.out.find("NODE_FAIL (node " + victim + " DOWN"), std::string::npos) << show.out;
  CommandResult nodes = cluster_.Loom({"nodes"});
  EXPECT_NE(nodes.out.find(victim + "  DOWN"), std::string::npos) << nodes.out;
}

TEST_F(LifecycleIntegrationTest, NoRequeueEndsNodeFail) {
  const std::string dir = cluster_.MakeDir("no-requeue");
  v1::SubmitRequest req;
  v1::JobSpec* spec = req.mutable_spec();
  spec->set_gpus(8);
  spec->set_gpus_per_node(4);
  spec->set_workdir(dir);
  spec->set_no_requeue(true);
  for (const char* a : {"/bin/sh", "-c", kFirstAttemptHangs}) spec->add_command(a);
  v1::SubmitReply reply;
  grpc::ClientContext ctx;
  ASSERT_TRUE(cluster_.stub().Submit(&ctx, req, &reply).ok());
  auto job = cluster_.WaitForState(reply.job_id(), v1::RUNNING);
  ASSERT_TRUE(job.ok());
  for (int r = 0; r < 8; ++r) ASSERT_TRUE(WaitForFile(dir + "/pid." + std::to_string(r)));
  cluster_.KillWorker(std::stoi(job->allocation(0).node().substr(5)) - 1, SIGKILL);
  auto failed = cluster_.WaitForState(reply.job_id(), v1::NODE_FAIL);
  ASSERT_TRUE(failed.ok()) << failed.status().message();
  EXPECT_EQ(failed->runs_size(), 1);
  CommandResult q = cluster_.Loom({"queue", "--state", "NODE_FAIL"});
  EXPECT_NE(q.out.find("NODE_FAIL"), std::string::npos) << q.out;
}

TEST_F(LifecycleIntegrationTest, DrainKeepsJobsOffANodeUntilResumed) {
  CommandResult bad = cluster_.Loom({"drain", "node-9", "--reason", "x"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("no node node-9"), std::string::npos) << bad.err;
  CommandResult r = cluster_.Loom({"drain", "node-1", "--reason", "swap fan"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  CommandResult nodes = cluster_.Loom({"nodes"});
  EXPECT_NE(nodes.out.find("DRAINED"), std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find("swap fan"), std::string::npos) << nodes.out;

  const std::string dir = cluster_.MakeDir("drain");
  auto small = cluster_.Submit({"--gpus", "8", "--gpus-per-node", "4", "-D", dir, "--", "/bin/true"});
  ASSERT_TRUE(small.ok());
  auto done = cluster_.WaitForState(*small, v1::COMPLETED);
  ASSERT_TRUE(done.ok()) << done.status().message();
  for (const auto& a : done->allocation()) EXPECT_NE(a.node(), "node-1");
  auto whole = cluster_.Submit({"--gpus", "12", "-D", dir, "--", "/bin/true"});
  ASSERT_TRUE(whole.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // passes run; none may place it
  EXPECT_EQ(cluster_.GetJob(*whole)->state(), v1::PENDING);     // it needs node-1

  // Drained state survives a loomd restart.
  cluster_.KillLoomd(SIGKILL);
  ASSERT_TRUE(cluster_.StartLoomd().ok());
  ASSERT_TRUE(cluster_.WaitForNodes(1, v1::DRAINED).ok());
  EXPECT_EQ(cluster_.GetJob(*whole)->state(), v1::PENDING);

  r = cluster_.Loom({"resume", "node-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(cluster_.WaitForState(*whole, v1::COMPLETED).ok());
}

TEST_F(LifecycleIntegrationTest, TimeLimitEndsTimeout) {
  auto id = cluster_.Submit({"--gpus", "1", "--time", "0:00:01", "--", "/bin/sleep", "300"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::TIMEOUT);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(job->runs(0).cause(), v1::CAUSE_TIME_LIMIT);
  EXPECT_EQ(job->requeues(), 0);
}

}  // namespace
}  // namespace loom::testing
