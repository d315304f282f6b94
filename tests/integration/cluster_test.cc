// The spine end to end: loomd, three workers of four emulated GPUs and the loom CLI, as processes
// talking gRPC on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {


class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }
  LocalCluster cluster_;
};

TEST_F(ClusterTest, EightGpuJobSpansTwoNodesWithTorchEnvironment) {
  const std::string dir = cluster_.MakeDir("env-job");
  auto id = cluster_.Submit({"--gpus", "8", "--gpus-per-node", "4", "--name", "env", "-D", dir, "--",
                             "/bin/sh", "-c",
                             "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT "
                             "$LOOM_JOB_ID $LOOM_NODENAME $CUDA_VISIBLE_DEVICES\" > rank.$RANK; echo hello from $RANK"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::COMPLETED);
  ASSERT_TRUE(job.ok()) << job.status().message();
  ASSERT_EQ(job->allocation_size(), 2);
  EXPECT_NE(job->allocation(0).node(), job->allocation(1).node());

  std::set<std::string> nodes;
  for (int r = 0; r < 8; ++r) {
    std::istringstream line(ReadFile(dir + "/rank." + std::to_string(r)));
    int rank, world, local, local_world, port;
    int64_t job_id;
    std::string master, node, gpus;
    ASSERT_TRUE(line >> rank >> world >> local >> local_world >> master >> port >> job_id >> node >> gpus) << r;
    EXPECT_EQ(rank, r);
    EXPECT_EQ(world, 8);
    EXPECT_EQ(local, r % 4);
    EXPECT_EQ(local_world, 4);
    EXPECT_EQ(master, "127.0.0.1");
    EXPECT_EQ(port, job->master_port());
    EXPECT_EQ(job_id, *id);
    EXPECT_EQ(node, job->allocation(r / 4).node());  // ranks 0-3 on the first node
    EXPECT_EQ(gpus, "0,1,2,3");
    nodes.insert(node);
  }
  EXPECT_EQ(nodes.size(), 2u);
  CommandResult logs = cluster_.Loom({"logs", std::to_string(*id), "--rank", "6"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "hello from 6\n");
}

TEST_F(ClusterTest, MpiJobRanksAgreeOnTheSumAcrossNodes) {
  const std::string dir = cluster_.MakeDir("mpi-job");
  auto id = cluster_.Submit({"--mpi", "--gpus", "8", "--gpus-per-node", "4", "-D", dir, "--time", "2m", "--",
                             LOOM_MPI_ALLREDUCE});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status().message() << "\n" << cluster_.Loom({"logs", std::to_string(*id), "--stderr"}).out;
  EXPECT_EQ(job->allocation_size(), 2);
  for (int r = 0; r < 8; ++r) {
    std::istringstream line(ReadFile(dir + "/allreduce." + std::to_string(r)));
    int rank, size;
    long sum;
    ASSERT_TRUE(line >> rank >> size >> sum) << "rank " << r << " wrote nothing";
    EXPECT_EQ(rank, r);
    EXPECT_EQ(size, 8);
    EXPECT_EQ(sum, 36);  // 1 + 2 + ... + 8
  }
}

TEST_F(ClusterTest, CancelKillsTheRunningRanks) {
  const std::string dir = cluster_.MakeDir("cancel-job");
  auto id = cluster_.Submit({"--gpus", "2", "-D", dir, "--", "/bin/sh", "-c", "echo $$ > pid.$RANK; exec sleep 300"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  ASSERT_TRUE(cluster_.WaitForState(*id, v1::RUNNING).ok());
  ASSERT_TRUE(WaitForFile(dir + "/pid.0") && WaitForFile(dir + "/pid.1"));
  std::vector<pid_t> pids = {std::stoi(ReadFile(dir + "/pid.0")), std::stoi(ReadFile(dir + "/pid.1"))};
  for (pid_t p : pids) EXPECT_TRUE(ProcessAlive(p));

  CommandResult r = cluster_.Loom({"cancel", std::to_string(*id)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cluster_.GetJob(*id)->state(), v1::CANCELLED);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && (ProcessAlive(pids[0]) || ProcessAlive(pids[1]))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t p : pids) EXPECT_FALSE(ProcessAlive(p)) << "rank " << p << " survived the cancel";
  r = cluster_.Loom({"cancel", std::to_string(*id)});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already ended"), std::string::npos) << r.err;
}

TEST_F(ClusterTest, Kill9OfLoomdLosesNothing) {
  const std::string dir = cluster_.MakeDir("restart");
  // A job holding the whole cluster until told to finish, and 20 queued behind it.
  auto running = cluster_.Submit({"--gpus", "12", "-D", dir, "--", "/bin/sh", "-c",
                                  "touch started.$RANK; while [ ! -f go ]; do sleep 0.05; done"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  ASSERT_TRUE(cluster_.WaitForState(*running, v1::RUNNING).ok());
  std::vector<int64_t> queued;
  for (int i = 0; i < 20; ++i) {
    auto id = cluster_.Submit({"--gpus", std::to_string(1 + i % 4), "--priority", std::to_string(i % 3),
                               "-D", dir, "--", "/bin/sh", "-c", "echo done > out." + std::to_string(i)});
    ASSERT_TRUE(id.ok()) << id.status().message();
    queued.push_back(*id);
  }
  CommandResult before = cluster_.Loom({"queue", "--all"});
  ASSERT_EQ(before.exit_code, 0);

  cluster_.KillLoomd(SIGKILL);
  ASSERT_TRUE(cluster_.StartLoomd().ok());
  ASSERT_TRUE(cluster_.WaitForNodes(3, v1::UP).ok());

  // Same jobs, same states, same order, the running one re-adopted rather than failed.
  CommandResult after = cluster_.Loom({"queue", "--all"});
  ASSERT_EQ(after.exit_code, 0);
  auto strip_time = [](std::string s) {  // the TIME column moves on; everything else must not
    std::string out;
    std::istringstream lines(s);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream w(line);
      std::string word, kept;
      for (int col = 0; w >> word; ++col) {
        if (col != 6) kept += word + " ";
      }
      out += kept + "\n";
    }
    return out;
  };
  EXPECT_EQ(strip_time(after.out), strip_time(before.out));
  EXPECT_EQ(cluster_.GetJob(*running)->state(), v1::RUNNING);

  std::ofstream(dir + "/go") << "go\n";
  ASSERT_TRUE(cluster_.WaitForState(*running, v1::COMPLETED).ok());
  for (size_t i = 0; i < queued.size(); ++i) {
    auto job = cluster_.WaitForState(queued[i], v1::COMPLETED);
    ASSERT_TRUE(job.ok()) << job.status().message();
    EXPECT_EQ(ReadFile(dir + "/out." + std::to_string(i)), "done\n");
  }
}

TEST_F(ClusterTest, BadInputIsOneLineNonZeroAndChangesNothing) {
  auto expect_error = [&](std::vector<std::string> args, const std::string& fragment) {
    CommandResult r = cluster_.Loom(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  };
  expect_error({"submit", "--gpus", "16", "--", "true"}, "the cluster has 12 GPUs");
  expect_error({"submit", "--gpus", "0", "--", "true"}, "at least 1");
  expect_error({"submit", "--gpus", "6", "--gpus-per-node", "4", "--", "true"}, "not a multiple");
  expect_error({"show", "12345"}, "no job 12345");
  expect_error({"cancel", "nope"}, "invalid job id");
  const std::string yaml = cluster_.MakeDir("yaml") + "/job.yaml";
  std::ofstream(yaml) << "gpus: 2\ngpu_per_node: 2\ncommand: true\n";
  expect_error({"submit", "-f", yaml}, "unknown field 'gpu_per_node'");
  std::ofstream(yaml) << "gpus: [2\n";
  expect_error({"submit", "-f", yaml}, "malformed YAML");
  CommandResult q = cluster_.Loom({"queue", "--all", "--json"});
  EXPECT_EQ(q.exit_code, 0);
  EXPECT_EQ(q.out.find("\"id\""), std::string::npos) << "a rejected job was recorded: " << q.out;

  // A second worker claiming a live node's name is refused.
  std::string worker = std::string(LOOM_BIN_DIR) + "/loom-worker";
  std::string cmd = worker + " --name node-1 --emulate-gpus 2 --server " + cluster_.address() + " --certs " +
                    cluster_.certs_dir() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {};
  std::string out;
  while (fgets(buf, sizeof(buf), p)) out += buf;
  int status = pclose(p);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(out.find("already registered"), std::string::npos) << out;

  // No loomd: a clear error, not a hang.
  cluster_.KillLoomd(SIGKILL);
  expect_error({"--server", cluster_.address(), "queue"}, "cannot reach loomd");
}

// loomd refuses a bad policy config before it touches its state directory.
TEST(LoomdTest, BadPolicyConfigIsOneLineNonZeroAndChangesNothing) {
  char tmpl[] = "/tmp/loom-policy-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, home = dir + "/home", config = dir + "/policy.yaml";
  std::ofstream(config) << "tenants:\n  research: {weight: 2, gpu_quota: -4}\n";
  const std::string cmd = std::string(LOOM_BIN_DIR) + "/loomd --home " + home + " --policy-config " + config + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {};
  std::string out;
  while (fgets(buf, sizeof(buf), p)) out += buf;
  const int status = pclose(p);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_EQ(out, "loomd: policy.yaml: tenants.research.gpu_quota: must not be negative\n");
  EXPECT_FALSE(std::filesystem::exists(home));
  std::filesystem::remove_all(dir);
}

// QoS preemption with real processes: a low-QoS job holding every GPU gets SIGTERM through its
// workers when a high-QoS job arrives, is requeued, and completes after the high-QoS job.
TEST(PreemptionTest, HighQosJobPreemptsAndTheVictimIsRequeuedAndCompletes) {
  LocalCluster::Options options;
  options.policy = "multifactor-backfill";
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok()) << "cluster did not start";
  const std::string dir = cluster.MakeDir("preempt");
  // First run: note SIGTERM and exit as a checkpointing job would. Second run (requeued): the
  // marker is there, so it completes at once.
  auto victim = cluster.Submit(
      {"--gpus", "12", "--time", "10m", "--tenant", "batch", "-D", dir, "--", "/bin/sh", "-c",
       "if [ -f term.$RANK ]; then echo resumed > done.$RANK; exit 0; fi; "
       "trap 'echo term > term.$RANK; exit 143' TERM; echo up > started.$RANK; "
       "while :; do sleep 0.05; done"});
  ASSERT_TRUE(victim.ok()) << victim.status().message();
  ASSERT_TRUE(cluster.WaitForState(*victim, v1::RUNNING).ok());
  for (int r = 0; r < 12; ++r) {
    ASSERT_TRUE(WaitForFile(dir + "/started." + std::to_string(r)))
        << "rank " << r << ": " << cluster.Loom({"logs", std::to_string(*victim), "--rank", std::to_string(r), "--stderr"}).out
        << cluster.GetJob(*victim)->DebugString();
  }

  auto urgent = cluster.Submit({"--gpus", "4", "--qos", "1", "--time", "10m", "-D", dir, "--",
                                "/bin/sh", "-c", "echo ran > urgent.out"});
  ASSERT_TRUE(urgent.ok()) << urgent.status().message();
  auto high = cluster.WaitForState(*urgent, v1::COMPLETED);
  ASSERT_TRUE(high.ok()) << high.status().message();
  EXPECT_EQ(ReadFile(dir + "/urgent.out"), "ran\n");
  for (int r = 0; r < 12; ++r) {
    EXPECT_EQ(ReadFile(dir + "/term." + std::to_string(r)), "term\n") << "rank " << r << " got no SIGTERM";
  }

  auto low = cluster.WaitForState(*victim, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(low.ok()) << low.status().message();
  EXPECT_EQ(low->preemptions(), 1);
  EXPECT_GE(low->start_time_ms(), high->end_time_ms());  // its second run waited for the GPUs
  for (int r = 0; r < 12; ++r) EXPECT_EQ(ReadFile(dir + "/done." + std::to_string(r)), "resumed\n") << r;
}

}  // namespace
}  // namespace loom::testing
