// JobRunner with real processes: environment, exit codes, kills and time limits.
#include "worker/job_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace loom::worker {
namespace {

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-runner-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    RunnerOptions options;
    options.state_dir = dir_;
    options.kill_grace_ms = 300;
    runner_ = std::make_unique<JobRunner>(options, [this](const JobExit& e) {
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
  runner_->Kill(3, "Cancelled");
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
