// JobRunner with real processes: environment, exit codes, kills, time limits, adoption and execs.
#include "worker/job_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

namespace loom::worker {
namespace {

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-runner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runner_ = MakeRunner();
  }
  // A runner on dir_ whose exits are collected in exits_ (a second one stands for a restart).
  std::unique_ptr<JobRunner> MakeRunner(const std::string& lease_file = "") {
    RunnerOptions options;
    options.state_dir = dir_;
    options.kill_grace_ms = 300;
    options.supervisor = LOOM_SUPERVISOR;
    options.lease_file = lease_file;
    return std::make_unique<JobRunner>(options, [this](const JobExit& e) {
      std::lock_guard<std::mutex> lock(mu_);
      exits_.push_back(e);
      cv_.notify_all();
    });
  }
  void TearDown() override {
    runner_.reset();
    std::filesystem::remove_all(dir_);
  }

  v1::LaunchRequest Launch(int64_t id, int gpus, std::vector<std::string> command, int64_t limit_s = 0) {
    v1::LaunchRequest l;
    v1::Job* job = l.mutable_job();
    job->set_id(id);
    job->mutable_spec()->set_gpus(gpus);
    job->mutable_spec()->set_time_limit_s(limit_s);
    for (auto& c : command) job->mutable_spec()->add_command(c);
    auto* a = job->add_allocation();
    a->set_node("n0");
    for (int g = 0; g < gpus; ++g) a->add_gpu_indices(g);
    l.add_nodes()->set_name("n0");
    return l;
  }

  JobExit WaitExit(int64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    bool found = cv_.wait_for(lock, std::chrono::seconds(20), [&] {
      for (auto& e : exits_) if (e.job_id == id) return true;
      return false;
    });
    EXPECT_TRUE(found) << "job " << id << " never exited";
    for (auto& e : exits_) if (e.job_id == id) return e;
    return {};
  }

  std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
  std::unique_ptr<JobRunner> runner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<JobExit> exits_;
};

TEST_F(JobRunnerTest, EveryRankRunsWithItsEnvironmentAndOutputIsCaptured) {
  ASSERT_TRUE(runner_->Launch(Launch(1, 3, {"/bin/sh", "-c", "echo rank=$RANK of $WORLD_SIZE gpu=$CUDA_VISIBLE_DEVICES; echo oops >&2"})).ok());
  JobExit e = WaitExit(1);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.reason, "");
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(Read(dir_ + "/jobs/1/rank-" + std::to_string(r) + ".out"),
              "rank=" + std::to_string(r) + " of 3 gpu=0,1,2\n");
    EXPECT_EQ(Read(dir_ + "/jobs/1/rank-" + std::to_string(r) + ".err"), "oops\n");
  }
  v1::ReadLogRequest req;
  req.set_job_id(1);
  req.set_rank(2);
  req.set_offset(5);
  auto log = runner_->ReadLog(req);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->data(), "2 of 3 gpu=0,1,2\n");
  EXPECT_TRUE(log->eof());
  req.set_rank(7);
  EXPECT_EQ(runner_->ReadLog(req).status().code(), StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, TasksPerNodeStartsOneProcessPerTaskWithItsShareOfGpus) {
  v1::LaunchRequest l = Launch(11, 4, {"/bin/sh", "-c", "echo rank=$RANK of $WORLD_SIZE gpu=$CUDA_VISIBLE_DEVICES"});
  l.mutable_job()->mutable_spec()->set_tasks_per_node(2);
  ASSERT_TRUE(runner_->Launch(l).ok());
  JobExit e = WaitExit(11);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(Read(dir_ + "/jobs/11/rank-0.out"), "rank=0 of 2 gpu=0,1\n");
  EXPECT_EQ(Read(dir_ + "/jobs/11/rank-1.out"), "rank=1 of 2 gpu=2,3\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/jobs/11/rank-2.out"));  // two processes, not four
}

TEST_F(JobRunnerTest, FailedRankFailsJobAndStopsItsSiblings) {
  ASSERT_TRUE(runner_->Launch(Launch(2, 2, {"/bin/sh", "-c", "if [ $RANK = 1 ]; then exit 3; fi; exec sleep 60"})).ok());
  JobExit e = WaitExit(2);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_TRUE(runner_->Running().empty());
}

TEST_F(JobRunnerTest, KillEndsEveryProcessOfTheJob) {
  ASSERT_TRUE(runner_->Launch(Launch(3, 2, {"/bin/sh", "-c", "echo $$ > pid.$RANK; sleep 60 & wait"})).ok());
  const std::string pidfile = dir_ + "/jobs/3/pid.1";
  for (int i = 0; i < 200 && Read(pidfile).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  pid_t pid = std::stoi(Read(pidfile));
  runner_->Kill(3, 1, "Cancelled");
  JobExit e = WaitExit(3);
  EXPECT_EQ(e.reason, "Cancelled");
  EXPECT_NE(e.exit_code, 0);
  EXPECT_EQ(kill(pid, 0), -1);  // the rank is gone (reaped), not a zombie kept around
}

TEST_F(JobRunnerTest, TimeLimitKillsTheJob) {
  ASSERT_TRUE(runner_->Launch(Launch(4, 1, {"sleep", "60"}, /*limit_s=*/1)).ok());
  JobExit e = WaitExit(4);
  EXPECT_EQ(e.reason, "TimeLimit");
}

TEST_F(JobRunnerTest, MissingProgramIsALaunchError) {
  Status s = runner_->Launch(Launch(5, 2, {"no-such-program-xyz"}));
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no-such-program-xyz"), std::string::npos);
  EXPECT_TRUE(runner_->Running().empty());
}

TEST_F(JobRunnerTest, AnotherAttemptOfARunningJobIsRefused) {
  v1::LaunchRequest first = Launch(6, 1, {"sleep", "60"});
  first.mutable_job()->set_attempt(1);
  ASSERT_TRUE(runner_->Launch(first).ok());
  EXPECT_TRUE(runner_->Launch(first).ok());  // the same attempt again: idempotent
  v1::LaunchRequest second = first;
  second.mutable_job()->set_attempt(2);
  EXPECT_EQ(runner_->Launch(second).code(), StatusCode::kFailedPrecondition);
  ASSERT_EQ(runner_->Running().size(), 1u);
  EXPECT_EQ(runner_->Running()[0].attempt, 1);

  runner_->Kill(6, 2, "NotThisOne");  // names another attempt: nothing happens
  ASSERT_EQ(runner_->Running().size(), 1u);
  runner_->Kill(6, 1, "Preempted");
  JobExit e = WaitExit(6);
  EXPECT_EQ(e.attempt, 1);
  EXPECT_EQ(e.reason, "Preempted");

  ASSERT_TRUE(runner_->Launch(second).ok());  // once the old attempt is gone, the new one starts
  ASSERT_EQ(runner_->Running().size(), 1u);
  EXPECT_EQ(runner_->Running()[0].attempt, 2);
  runner_->Kill(6, 0, "Cancelled");  // attempt 0 (an older loomd): whatever runs
}

TEST_F(JobRunnerTest, LaunchDecidedUnderAnEarlierRegistrationIsRefused) {
  v1::LaunchRequest before = Launch(9, 1, {"sleep", "60"});
  before.mutable_job()->set_attempt(1);
  before.set_registration(5);
  // The registration the launch was decided under is no longer the node's latest, and the
  // latest one's list (taken in the same step) did not have it: loomd took it for gone.
  EXPECT_TRUE(runner_->BeginRegistration(5).empty());
  EXPECT_TRUE(runner_->BeginRegistration(6).empty());
  Status s = runner_->Launch(before);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("earlier registration"), std::string::npos) << s.message();
  EXPECT_TRUE(runner_->Running().empty());

  v1::LaunchRequest now = before;
  now.set_registration(6);
  ASSERT_TRUE(runner_->Launch(now).ok());
  const std::vector<AttemptKey> listed = runner_->BeginRegistration(7);
  ASSERT_EQ(listed.size(), 1u);  // what the next registration tells loomd
  EXPECT_EQ(listed[0].job_id, 9);
  EXPECT_TRUE(runner_->Launch(now).ok());  // the attempt already runs: still idempotent
  runner_->Kill(9, 0, "Cancelled");
  WaitExit(9);
}

// A Launch loomd gave up on (its fence, from a heartbeat reply, covers it) starts nothing when
// it arrives late; the mark a heartbeat reports is read with the list of what runs.
TEST_F(JobRunnerTest, ALaunchBelowLoomdsFenceIsRefusedAndTheMarkCoversIt) {
  EXPECT_TRUE(runner_->BeginRegistration(5).empty());
  v1::LaunchRequest late = Launch(12, 1, {"sleep", "60"});
  late.mutable_job()->set_attempt(1);
  late.set_registration(5);
  late.set_launch_seq(1);
  v1::LaunchRequest next = Launch(13, 1, {"sleep", "60"});
  next.mutable_job()->set_attempt(1);
  next.set_registration(5);
  next.set_launch_seq(2);
  ASSERT_TRUE(runner_->Launch(next).ok());
  uint64_t mark = 99;
  EXPECT_EQ(runner_->Running(&mark).size(), 1u);
  EXPECT_EQ(mark, 0u);  // launch 1 may still come
  runner_->ApplyLaunchFence(5, 1);
  EXPECT_EQ(runner_->Running(&mark).size(), 1u);
  EXPECT_EQ(mark, 2u);
  Status s = runner_->Launch(late);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("stopped waiting"), std::string::npos) << s.message();
  EXPECT_EQ(runner_->Running().size(), 1u);
  runner_->Kill(13, 0, "Cancelled");
  WaitExit(13);
}

// Past its lease a node takes no launch until it registers again: loomd presumes its ranks gone.
TEST_F(JobRunnerTest, ADroppedRegistrationRefusesLaunchesUntilTheNextOne) {
  EXPECT_TRUE(runner_->BeginRegistration(5).empty());
  int checks = 0;
  runner_->set_before_launch([&] { ++checks; });
  v1::LaunchRequest l = Launch(14, 1, {"true"});
  l.mutable_job()->set_attempt(1);
  l.set_registration(5);
  runner_->DropRegistration();
  Status s = runner_->Launch(l);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("lease"), std::string::npos) << s.message();
  EXPECT_EQ(checks, 1);  // the agent's lease is checked before each launch
  EXPECT_TRUE(runner_->BeginRegistration(6).empty());
  l.set_registration(6);
  ASSERT_TRUE(runner_->Launch(l).ok());
  WaitExit(14);
}

TEST_F(JobRunnerTest, RankKilledBySignalReportsIt) {
  ASSERT_TRUE(runner_->Launch(Launch(7, 1, {"/bin/sh", "-c", "kill -SEGV $$"})).ok());
  JobExit e = WaitExit(7);
  EXPECT_EQ(e.signal, SIGSEGV);
  EXPECT_EQ(e.exit_code, 128 + SIGSEGV);
  EXPECT_EQ(e.attempt, 1);
}

TEST_F(JobRunnerTest, CheckpointSignalReachesEveryRankBeforeTheTimeLimit) {
  // Each rank traps USR1, writes a file and exits 0: a job that checkpoints and stops in time.
  v1::LaunchRequest l = Launch(8, 2, {"/bin/sh", "-c",
      "trap 'echo $LOOM_JOB_RUN > got.$RANK; exit 0' USR1; while :; do sleep 0.05; done"}, /*limit_s=*/60);
  l.mutable_job()->mutable_spec()->set_signal(SIGUSR1);
  l.mutable_job()->mutable_spec()->set_signal_before_s(59);  // one second after the start
  ASSERT_TRUE(runner_->Launch(l).ok());
  JobExit e = WaitExit(8);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.reason, "");  // it ended itself, long before the limit
  EXPECT_EQ(Read(dir_ + "/jobs/8/got.0"), "1\n");
  EXPECT_EQ(Read(dir_ + "/jobs/8/got.1"), "1\n");
}

TEST_F(JobRunnerTest, KillGraceLetsARankFinishItsCheckpoint) {
  // SIGTERM is trapped; the rank needs a moment (a checkpoint) and gets it from grace_ms.
  ASSERT_TRUE(runner_->Launch(Launch(9, 1, {"/bin/sh", "-c",
      "trap 'sleep 1; echo saved > ckpt; exit 0' TERM; echo up > up; while :; do sleep 0.05; done"})).ok());
  for (int i = 0; i < 1000 && Read(dir_ + "/jobs/9/up").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  runner_->Kill(9, 1, "Preempted", /*grace_ms=*/60000);  // the default here is 300 ms
  JobExit e = WaitExit(9);
  EXPECT_EQ(e.reason, "Preempted");
  EXPECT_EQ(Read(dir_ + "/jobs/9/ckpt"), "saved\n");
}

// A worker restart: the attempt's supervisor was started by an earlier worker (here, by the test)
// and runs on; a new runner on the same state directory takes it over and reports its end.
TEST_F(JobRunnerTest, ARestartedRunnerAdoptsRunningAndFinishedAttempts) {
  auto write_attempt = [&](int64_t id, const std::string& script) {
    v1::LaunchRequest l = Launch(id, 1, {"/bin/sh", "-c", script});
    l.mutable_job()->set_attempt(3);
    const std::string dir = dir_ + "/jobs/" + std::to_string(id) + "/attempt-3";
    std::filesystem::create_directories(dir);
    std::string bytes;
    l.SerializeToString(&bytes);
    EXPECT_TRUE(WriteFileAtomically(dir + "/launch.pb", bytes).ok());
    SupervisorSpec spec;
    const std::string job_dir = dir_ + "/jobs/" + std::to_string(id);
    spec.ranks.push_back({{"/bin/sh", "-c", script}, CurrentEnvironment(), job_dir,
                          job_dir + "/rank-0.out", job_dir + "/rank-0.err"});
    spec.plan = {1, 0, 0, 0, 300};
    auto spec_fd = MemoryFile("spec", EncodeSpec(spec));
    EXPECT_TRUE(spec_fd.ok());
    SpawnSpec s;
    s.argv = {LOOM_SUPERVISOR, dir};
    s.env = CurrentEnvironment();
    s.stdin_fd = *spec_fd;
    s.own_session = true;
    auto pid = Spawn(s);
    close(*spec_fd);
    EXPECT_TRUE(pid.ok());
    return *pid;
  };
  // Attempt 3 of job 20 runs until told; job 21's ended while no worker ran.
  const std::string go = dir_ + "/go";
  pid_t running = write_attempt(20, "while [ ! -e " + go + " ]; do sleep 0.05; done; exit 4");
  pid_t ended = write_attempt(21, "exit 0");
  int status = 0;
  ASSERT_EQ(waitpid(ended, &status, 0), ended);  // its supervisor wrote the result and left
  runner_.reset();  // the old runner knew nothing of them; a fresh one on the same directory:
  runner_ = MakeRunner();
  EXPECT_EQ(runner_->Adopt(), 2);
  JobExit done = WaitExit(21);
  EXPECT_EQ(done.attempt, 3);
  EXPECT_EQ(done.exit_code, 0);
  ASSERT_EQ(runner_->Running().size(), 1u);
  EXPECT_EQ(runner_->Running()[0].job_id, 20);
  EXPECT_EQ(runner_->Running()[0].attempt, 3);
  v1::LaunchRequest again = Launch(20, 1, {"true"});
  again.mutable_job()->set_attempt(4);
  EXPECT_EQ(runner_->Launch(again).code(), StatusCode::kFailedPrecondition);  // 3 still runs here
  std::ofstream(go) << "";
  JobExit e = WaitExit(20);
  EXPECT_EQ(e.attempt, 3);
  EXPECT_EQ(e.exit_code, 4);
  // Delivered (the report is the agent's now): the supervisor's files go.
  for (int i = 0; i < 1000 && std::filesystem::exists(dir_ + "/jobs/20/attempt-3"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/jobs/20/attempt-3"));
  waitpid(running, &status, 0);
}

TEST_F(JobRunnerTest, AKilledSupervisorEndsItsRanksAndTheAttempt) {
  ASSERT_TRUE(runner_->Launch(Launch(22, 1, {"/bin/sh", "-c", "echo $$ > pid; sleep 60 & wait"})).ok());
  const std::string pidfile = dir_ + "/jobs/22/pid";
  const std::string who = dir_ + "/jobs/22/attempt-1/supervisor";
  for (int i = 0; i < 1000 && (Read(pidfile).empty() || Read(who).empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const pid_t rank = std::stoi(Read(pidfile));
  const pid_t supervisor = std::stoi(Read(who));
  kill(supervisor, SIGKILL);
  JobExit e = WaitExit(22);
  EXPECT_EQ(e.reason, "SupervisorLost");
  EXPECT_EQ(e.exit_code, 137);
  for (int i = 0; i < 1000 && kill(rank, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_NE(kill(rank, 0), 0);  // PR_SET_PDEATHSIG took the rank with its supervisor
}

// An MPI job's non-head node runs only what mpirun starts there through Exec (its orted), each
// under a supervisor of its own: a restarted worker adopts the attempt, finds the exec by its id
// for the head's launch agent to resume, and sees it end.
TEST_F(JobRunnerTest, AnExecOutlivesItsWorkerAndIsFoundByTheNextOne) {
  v1::LaunchRequest l = Launch(24, 1, {"mpi_program"});
  l.mutable_job()->mutable_spec()->set_mpi(true);
  auto* head = l.mutable_job()->add_allocation();  // the head is the other node
  head->set_node("n1");
  head->add_gpu_indices(0);
  l.mutable_job()->mutable_allocation()->SwapElements(0, 1);
  l.clear_nodes();
  l.add_nodes()->set_name("n1");
  l.add_nodes()->set_name("n0");
  l.set_node_index(1);
  l.set_job_token("secret-24");
  ASSERT_TRUE(runner_->Launch(l).ok());
  EXPECT_EQ(runner_->StartExec(24, "secret-25", "true").status().code(), StatusCode::kPermissionDenied);
  const std::string go = dir_ + "/go";
  auto exec = runner_->StartExec(24, "secret-24", "echo up $TMPDIR; echo note >&2; while [ ! -e " + go + " ]; do sleep 0.05; done; exit 7");
  ASSERT_TRUE(exec.ok()) << exec.status().message();
  EXPECT_EQ(exec->id, 1);
  for (int i = 0; i < 1000 && Read(exec->stdout_path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Open MPI's session files in this node's own attempt folder (not the head's, not /tmp).
  const std::string session = dir_ + "/jobs/24/attempt-1/mpi";
  EXPECT_EQ(Read(exec->stdout_path), "up " + session + "\n");
  EXPECT_TRUE(std::filesystem::is_directory(session));
  EXPECT_FALSE(runner_->WaitExecEnd(24, 1, std::chrono::milliseconds(0)).has_value());

  // The worker "restarts": a second runner on the same folder (the first, standing for the dead
  // worker, is left alone until the end).
  std::unique_ptr<JobRunner> first = std::move(runner_);
  runner_ = MakeRunner();
  EXPECT_EQ(runner_->Adopt(), 1);
  ASSERT_EQ(runner_->Running().size(), 1u);
  EXPECT_EQ(runner_->FindExec(24, "secret-25", 1).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(runner_->FindExec(24, "secret-24", 2).status().code(), StatusCode::kNotFound);
  auto found = runner_->FindExec(24, "secret-24", 1);
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->stdout_path, exec->stdout_path);
  EXPECT_EQ(Read(found->stderr_path), "note\n");
  EXPECT_FALSE(runner_->WaitExecEnd(24, 1, std::chrono::milliseconds(100)).has_value());
  std::ofstream(go) << "";
  std::optional<int> code;
  for (int i = 0; i < 200 && !code; ++i) code = runner_->WaitExecEnd(24, 1, std::chrono::milliseconds(100));
  EXPECT_EQ(code, 7);
  EXPECT_EQ(runner_->Running().size(), 1u);  // the node's part ends when loomd kills it
  runner_->Kill(24, 0, "Done");
  EXPECT_EQ(WaitExit(24).reason, "Done");
  EXPECT_TRUE(runner_->Running().empty());
  first.reset();
}

// The node lease as the supervisor keeps it: no worker needed, only the lease file going stale.
TEST_F(JobRunnerTest, AStaleLeaseFileKillsTheAttemptWithoutAWorker) {
  runner_.reset();
  runner_ = MakeRunner(dir_ + "/lease");
  { std::ofstream(dir_ + "/lease") << "1000\n"; }  // a 1 s lease, renewed now and never again
  ASSERT_TRUE(runner_->Launch(Launch(23, 2, {"sleep", "60"})).ok());
  JobExit e = WaitExit(23);
  EXPECT_EQ(e.reason, "NodeLeaseExpired");
}

}  // namespace
TEST(JobRunnerAccountTest, UnmappedTenantIsRefusedAtLaunchAndNothingStarts) {
  char tmpl[] = "/tmp/loom-account-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  RunnerOptions options;
  options.state_dir = tmpl;
  options.run_as = {{"alice", "nobody"}};
  {
    JobRunner runner(options, [](const JobExit&) {});
    v1::LaunchRequest l;
    v1::Job* job = l.mutable_job();
    job->set_id(1);
    job->mutable_spec()->set_tenant("bob");
    job->mutable_spec()->add_command("true");
    job->add_allocation()->add_gpu_indices(0);
    l.add_nodes();
    Status s = runner.Launch(l);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.message().find("tenant 'bob' has no Unix account"), std::string::npos) << s.message();
    EXPECT_TRUE(runner.Running().empty());
  }
  std::filesystem::remove_all(tmpl);
}

}  // namespace loom::worker
