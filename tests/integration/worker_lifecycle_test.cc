// The worker's side of the job lifecycle with real processes on loopback: a worker restart keeps
// its jobs (an MPI job's too, on either node), --signal reaches every rank, a stopped worker's
// ranks die by the node lease, and bad lifecycle flags change nothing. These pass against a loomd
// that knows nothing of requeues.
#include <gtest/gtest.h>
#include <signal.h>

#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/process.h"

#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

std::vector<pid_t> RankPids(const std::string& dir, int ranks) {
  std::vector<pid_t> pids;
  for (int r = 0; r < ranks; ++r) {
    EXPECT_TRUE(WaitForFile(dir + "/pid." + std::to_string(r))) << "rank " << r << " never started";
    const std::string text = ReadFile(dir + "/pid." + std::to_string(r));
    pids.push_back(text.empty() ? 0 : std::stoi(text));
  }
  return pids;
}

// slurmstepd's model: kill -9 of a worker under a 2-node job and its restart within the node
// timeout leave the ranks running; the job completes with exit 0 in its first attempt.
TEST(WorkerLifecycleTest, WorkerRestartKeepsItsRunningJob) {
  LocalCluster::Options options;
  options.node_timeout_ms = 8000;  // generous: the restart must beat it on a loaded machine
  options.worker_args = {"--peak-tflops", "1"};  // no GEMM calibration at (re)start
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("restart");
  auto id = cluster.Submit({"--gpus", "8", "--gpus-per-node", "4", "-D", dir, "--", "/bin/sh", "-c",
                            "echo $$ > pid.$RANK; while [ ! -e go ]; do sleep 0.05; done; echo $LOOM_JOB_RUN > run.$RANK"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  const std::vector<pid_t> pids = RankPids(dir, 8);
  const int victim = std::stoi(job->allocation(1).node().substr(5)) - 1;  // node-<i+1>
  cluster.KillWorker(victim, SIGKILL);
  ASSERT_TRUE(cluster.StartWorker(victim).ok());
  for (pid_t p : pids) EXPECT_TRUE(ProcessAlive(p)) << "rank pid " << p << " died with its worker";
  // Re-registered (the same session, listing the attempt) and heartbeating again.
  ASSERT_TRUE(cluster.WaitForNodes(3, v1::UP).ok());
  const std::string log = cluster.home() + "/node-" + std::to_string(victim + 1) + ".log";
  EXPECT_TRUE(WaitUntil([&] { return ReadFile(log).find("re-adopted 1 job attempt") != std::string::npos; },
                        std::chrono::seconds(20))) << ReadFile(log);
  std::ofstream(dir + "/go") << "go\n";
  auto done = cluster.WaitForState(*id, v1::COMPLETED);
  ASSERT_TRUE(done.ok()) << done.status().message() << "\n" << ReadFile(log);
  EXPECT_EQ(done->exit_code(), 0);
  EXPECT_EQ(done->runs_size(), 1);  // no requeue
  for (int r = 0; r < 8; ++r) EXPECT_EQ(ReadFile(dir + "/run." + std::to_string(r)), "1\n") << r;
  // Log reads keep working for the re-adopted attempt (rank 4 ran on node allocation(1)).
  EXPECT_EQ(cluster.Loom({"logs", std::to_string(*id), "--rank", "4"}).exit_code, 0);
}

// The same for a 2-node MPI job, whichever node's worker is killed: on the head, mpirun and its
// launch agents live on under the supervisor; on the other node, its orted (started through
// Exec, under a supervisor of its own) and the ranks under it live on, and the head's launch
// agent resumes the broken stream. The ranks' allreduce after the restart agrees on the sum.
void MpiJobSurvivesAWorkerRestart(int allocation_index) {
  LocalCluster::Options options;
  options.node_timeout_ms = 8000;
  options.worker_args = {"--peak-tflops", "1"};
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("mpi-restart");
  auto id = cluster.Submit({"--mpi", "--gpus", "8", "--gpus-per-node", "4", "-D", dir, "--time", "2m", "--",
                            "/bin/sh", "-c",
                            "echo $$ > pid.$OMPI_COMM_WORLD_RANK; while [ ! -e go ]; do sleep 0.05; done; "
                            "exec " LOOM_MPI_ALLREDUCE});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  const std::vector<pid_t> pids = RankPids(dir, 8);
  const int victim = std::stoi(job->allocation(allocation_index).node().substr(5)) - 1;  // node-<i+1>
  cluster.KillWorker(victim, SIGKILL);
  ASSERT_TRUE(cluster.StartWorker(victim).ok());
  for (int r = 0; r < 8; ++r) EXPECT_TRUE(ProcessAlive(pids[r])) << "rank " << r << " died with a worker";
  ASSERT_TRUE(cluster.WaitForNodes(3, v1::UP).ok());
  const std::string log = cluster.home() + "/node-" + std::to_string(victim + 1) + ".log";
  EXPECT_TRUE(WaitUntil([&] { return ReadFile(log).find("re-adopted 1 job attempt") != std::string::npos; },
                        std::chrono::seconds(20))) << ReadFile(log);
  std::ofstream(dir + "/go") << "go\n";
  auto done = cluster.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status().message() << "\n" << ReadFile(log) << "\n"
                         << cluster.Loom({"logs", std::to_string(*id), "--stderr"}).out;
  EXPECT_EQ(done->exit_code(), 0);
  EXPECT_EQ(done->runs_size(), 1);  // no requeue
  for (int r = 0; r < 8; ++r) {
    std::istringstream line(ReadFile(dir + "/allreduce." + std::to_string(r)));
    int rank = -1, size = 0;
    long sum = 0;
    ASSERT_TRUE(line >> rank >> size >> sum) << "rank " << r << " wrote nothing";
    EXPECT_EQ(size, 8);
    EXPECT_EQ(sum, 36);  // 1 + 2 + ... + 8
  }
}

TEST(WorkerLifecycleTest, NonHeadWorkerRestartKeepsARunningMpiJob) { MpiJobSurvivesAWorkerRestart(1); }
TEST(WorkerLifecycleTest, HeadWorkerRestartKeepsARunningMpiJob) { MpiJobSurvivesAWorkerRestart(0); }

// --signal USR1@SECONDS: every rank traps it, says so in a file and ends cleanly before the limit.
TEST(WorkerLifecycleTest, CheckpointSignalReachesEveryRank) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("signal");
  auto id = cluster.Submit({"--gpus", "8", "--gpus-per-node", "4", "--time", "2m", "--signal", "USR1@118",
                            "-D", dir, "--", "/bin/sh", "-c",
                            "trap 'echo USR1 > got.$RANK; exit 0' USR1; while :; do sleep 0.05; done"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto done = cluster.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.status().message();
  for (int r = 0; r < 8; ++r) EXPECT_EQ(ReadFile(dir + "/got." + std::to_string(r)), "USR1\n") << "rank " << r;
}

// A worker stopped (SIGSTOP) past its node lease: the supervisors kill its ranks although the
// worker cannot act. The lease here is 2 s (the cluster's node timeout rounded up).
TEST(WorkerLifecycleTest, StoppedWorkersRanksDieByTheLease) {
  LocalCluster cluster;
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("lease");
  auto id = cluster.Submit({"--gpus", "4", "-D", dir, "--", "/bin/sh", "-c", "echo $$ > pid.$RANK; exec sleep 300"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok());
  const std::vector<pid_t> pids = RankPids(dir, 4);
  const int victim = std::stoi(job->allocation(0).node().substr(5)) - 1;
  cluster.SignalWorker(victim, SIGSTOP);
  const bool gone = WaitUntil([&] {
    for (pid_t p : pids) {
      if (ProcessAlive(p)) return false;
    }
    return true;
  }, std::chrono::seconds(30));
  cluster.SignalWorker(victim, SIGCONT);
  EXPECT_TRUE(gone) << "ranks outlived the node lease";
}

TEST(WorkerLifecycleTest, BadLifecycleFlagsAreOneLineAndSubmitNothing) {
  LocalCluster cluster(LocalCluster::Options{.workers = 1});
  ASSERT_TRUE(cluster.Start().ok());
  auto expect_error = [&](std::vector<std::string> args, const std::string& fragment) {
    args.insert(args.begin(), "submit");
    args.insert(args.end(), {"--", "true"});
    CommandResult r = cluster.Loom(args);
    EXPECT_EQ(r.exit_code, 1) << args[1];
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  };
  expect_error({"--signal", "FOO@10"}, "unknown signal 'FOO'");
  expect_error({"--signal", "USR1@0"}, "SECONDS must be a positive");
  expect_error({"--signal", "USR1"}, "SIG@SECONDS");
  expect_error({"--grace=-5s"}, "must not be negative");
  expect_error({"--max-requeues=-1"}, "--max-requeues must not be negative");
  const std::string yaml = cluster.MakeDir("yaml") + "/job.yaml";
  std::ofstream(yaml) << "command: true\nsignal: USR1@-3\n";
  CommandResult r = cluster.Loom({"submit", "-f", yaml});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("job.yaml:2"), std::string::npos) << r.err;
  CommandResult q = cluster.Loom({"queue", "--all", "--json"});
  EXPECT_EQ(q.exit_code, 0);
  EXPECT_EQ(q.out.find("\"id\""), std::string::npos) << "a rejected job was recorded: " << q.out;
}

// `loom up` as a cluster: kill -9 of a worker and of loomd under it, both come back (the worker
// re-registers, loomd on its address), and only SIGTERM stops it all.
class LoomUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-up-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    home_ = tmpl;
  }
  void TearDown() override {
    if (up_ > 0) {
      kill(up_, SIGKILL);
      waitpid(up_, nullptr, 0);
    }
    std::filesystem::remove_all(home_);
  }
  std::string Out() const { return ReadFile(home_ + "/up.out"); }
  // The pid of loom up's child whose command line holds `needle`; 0 if none.
  pid_t Child(const std::string& needle) const {
    for (pid_t p : ChildrenOf(up_)) {
      std::string cmd = ReadFile("/proc/" + std::to_string(p) + "/cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(needle) != std::string::npos) return p;
    }
    return 0;
  }
  int UpNodes() const {
    std::string address = ReadFile(home_ + "/loomd.addr");
    address = address.substr(0, address.find('\n'));
    if (address.empty()) return 0;
    // `loom up` runs secured: its CA and the admin token it wrote into $LOOM_HOME.
    std::string token = ReadFile(home_ + "/token");
    token = token.substr(0, token.find('\n'));
    auto stub = SchedulerStub(address, home_ + "/certs", "", token);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::ListNodesReply reply;
    if (!stub->ListNodes(&ctx, v1::ListNodesRequest(), &reply).ok()) return 0;
    int up = 0;
    for (const auto& n : reply.nodes()) up += n.state() == v1::UP;
    return up;
  }
  std::string home_;
  pid_t up_ = 0;
};

TEST_F(LoomUpTest, RestartsADeadWorkerAndADeadLoomdAndStopsOnlyOnSigterm) {
  SpawnSpec spec;
  spec.argv = {std::string(LOOM_BIN_DIR) + "/loom", "up", "--workers", "2", "--gpus-per-worker", "2",
               "--heartbeat-ms", "200", "--node-timeout-ms", "3000"};
  spec.env = CurrentEnvironment();
  spec.env["LOOM_HOME"] = home_;
  spec.stdout_path = home_ + "/up.out";
  spec.stderr_path = home_ + "/up.out";
  auto pid = Spawn(spec);
  ASSERT_TRUE(pid.ok());
  up_ = *pid;
  ASSERT_TRUE(WaitUntil([&] { return Out().find("Loom is up") != std::string::npos; }, std::chrono::seconds(120))) << Out();

  const pid_t worker = Child("--name node-1 ");
  ASSERT_GT(worker, 0);
  kill(worker, SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return Out().find("restarted worker node-1") != std::string::npos; },
                        std::chrono::seconds(60))) << Out();
  EXPECT_NE(Out().find("worker node-1 (pid " + std::to_string(worker) + ") was killed by signal 9"), std::string::npos) << Out();
  EXPECT_NE(Child("--name node-1 "), worker);
  EXPECT_TRUE(WaitUntil([&] { return UpNodes() == 2; }, std::chrono::seconds(60)));  // it re-registered

  const pid_t loomd = Child("/loomd ");
  ASSERT_GT(loomd, 0);
  kill(loomd, SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return Out().find("restarted loomd") != std::string::npos; }, std::chrono::seconds(60))) << Out();
  EXPECT_TRUE(WaitUntil([&] { return UpNodes() == 2; }, std::chrono::seconds(60))) << Out();  // same address, both back

  const pid_t survivor = Child("--name node-2 ");
  EXPECT_GT(survivor, 0);  // the other worker ran on throughout
  kill(up_, SIGTERM);
  int status = 0;
  ASSERT_TRUE(WaitUntil([&] { return waitpid(up_, &status, WNOHANG) == up_; }, std::chrono::seconds(60)));
  up_ = 0;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Out();
  EXPECT_NE(Out().find("Loom stopped."), std::string::npos);
  EXPECT_FALSE(ProcessAlive(survivor));
}

}  // namespace
}  // namespace loom::testing
