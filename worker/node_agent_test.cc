// NodeAgent against a fake loomd: exit reports survive refusals and worker restarts; the node
// lease kills jobs when loomd stays away. Also the spool and the backoff on their own.
#include "worker/node_agent.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "worker/step_reporter.h"

namespace loom::worker {
namespace {

// Answers ReportJobExit with INTERNAL (a failed commit) `fail_first` times, then OK.
class FakeLoomd final : public v1::Scheduler::Service {
 public:
  explicit FakeLoomd(int fail_first) : fail_left_(fail_first) {}
  grpc::Status ReportJobExit(grpc::ServerContext*, const v1::ReportJobExitRequest* r,
                             v1::ReportJobExitReply*) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (fail_left_ > 0) {
      --fail_left_;
      return grpc::Status(grpc::StatusCode::INTERNAL, "commit failed");
    }
    acked_.push_back(*r);
    return grpc::Status::OK;
  }
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest* r, v1::RegisterReply* reply) override {
    std::lock_guard<std::mutex> lock(mu_);
    registered_.push_back(*r);
    reply->set_heartbeat_interval_ms(50);
    reply->set_node_lease_ms(lease_ms_);
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* r, v1::HeartbeatReply*) override {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeats_.push_back(*r);
    return answer_heartbeats_ ? grpc::Status::OK : grpc::Status(grpc::StatusCode::UNAVAILABLE, "away");
  }
  grpc::Status ReportSteps(grpc::ServerContext*, const v1::ReportStepsRequest* r, v1::ReportStepsReply*) override {
    std::lock_guard<std::mutex> lock(mu_);
    steps_.push_back(*r);
    return grpc::Status::OK;
  }

  std::mutex mu_;
  int fail_left_;
  int calls_ = 0;
  int64_t lease_ms_ = 0;
  bool answer_heartbeats_ = true;
  std::vector<v1::ReportJobExitRequest> acked_;
  std::vector<v1::RegisterRequest> registered_;
  std::vector<v1::ReportStepsRequest> steps_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
};

class NodeAgentTest : public ::testing::Test {
 protected:
  void Start(int fail_first) {
    char tmpl[] = "/tmp/loom-agent-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fake_ = std::make_unique<FakeLoomd>(fail_first);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(fake_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<NodeAgent> Agent() {
    v1::Node node;
    node.set_name("n0");
    AgentOptions options;
    options.report_dir = dir_ + "/reports";
    options.retry_min_ms = 0;  // the test drives the retries; RetryDelay is tested apart
    return std::make_unique<NodeAgent>(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()), address(),
                                       node, "s1", options);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int Calls() {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    return fake_->calls_;
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<FakeLoomd> fake_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(NodeAgentTest, ExitReportIsRetriedUntilLoomdAcknowledgesIt) {
  Start(/*fail_first=*/3);
  auto agent = Agent();
  agent->OnJobExit({5, 2, 3, 0, ""});
  EXPECT_EQ(ReportSpool(dir_ + "/reports").Load().size(), 1u);  // on disk before it is sent
  for (int i = 0; i < 3; ++i) {
    agent->FlushReports();  // each refusal keeps it
    EXPECT_EQ(Calls(), i + 1);
    EXPECT_EQ(agent->PendingReports(), 1u);
  }
  agent->FlushReports();
  EXPECT_EQ(Calls(), 4);
  EXPECT_EQ(agent->PendingReports(), 0u);
  EXPECT_TRUE(ReportSpool(dir_ + "/reports").Load().empty());
  std::lock_guard<std::mutex> lock(fake_->mu_);
  ASSERT_EQ(fake_->acked_.size(), 1u);
  EXPECT_EQ(fake_->acked_[0].job_id(), 5);
  EXPECT_EQ(fake_->acked_[0].attempt(), 2);
  EXPECT_EQ(fake_->acked_[0].exit_code(), 3);
  EXPECT_EQ(fake_->acked_[0].node(), "n0");
}

TEST_F(NodeAgentTest, ARestartedWorkerListsAndResendsUnacknowledgedReports) {
  Start(/*fail_first=*/1000);
  {
    auto agent = Agent();
    agent->OnJobExit({7, 1, 0, 0, ""});
    agent->FlushReports();  // refused; then the worker dies
  }
  {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    fake_->fail_left_ = 0;
  }
  auto restarted = Agent();
  EXPECT_EQ(restarted->PendingReports(), 1u);
  ASSERT_TRUE(restarted->Register().ok());
  {
    // The attempt is listed, so loomd does not fail it as lost before its report arrives.
    std::lock_guard<std::mutex> lock(fake_->mu_);
    ASSERT_EQ(fake_->registered_.size(), 1u);
    ASSERT_EQ(fake_->registered_[0].running_size(), 1);
    EXPECT_EQ(fake_->registered_[0].running(0).job_id(), 7);
    EXPECT_EQ(fake_->registered_[0].running(0).attempt(), 1);
  }
  restarted->FlushReports();
  EXPECT_EQ(restarted->PendingReports(), 0u);
  std::lock_guard<std::mutex> lock(fake_->mu_);
  ASSERT_EQ(fake_->acked_.size(), 1u);
  EXPECT_EQ(fake_->acked_[0].job_id(), 7);
}

TEST_F(NodeAgentTest, NodeLeaseKillsJobsWhenLoomdStaysAway) {
  Start(0);
  {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    fake_->lease_ms_ = 300;
  }
  RunnerOptions ro;
  ro.state_dir = dir_;
  ro.kill_grace_ms = 200;
  ro.supervisor = LOOM_SUPERVISOR;
  auto agent = Agent();
  JobRunner runner(ro, [&](const JobExit& e) { agent->OnJobExit(e); });
  agent->set_runner(&runner);
  ASSERT_TRUE(agent->Register().ok());
  EXPECT_EQ(agent->lease_ms(), 300);
  v1::LaunchRequest l;
  l.mutable_job()->set_id(9);
  l.mutable_job()->set_attempt(1);
  l.mutable_job()->mutable_spec()->set_gpus(1);
  l.mutable_job()->mutable_spec()->add_command("sleep");
  l.mutable_job()->mutable_spec()->add_command("60");
  l.mutable_job()->add_allocation()->set_node("n0");
  l.mutable_job()->mutable_allocation(0)->add_gpu_indices(0);
  l.add_nodes()->set_name("n0");
  {
    // As loomd does: the launch names the registration it was decided under.
    std::lock_guard<std::mutex> lock(fake_->mu_);
    ASSERT_FALSE(fake_->registered_.empty());
    EXPECT_NE(fake_->registered_.back().registration(), 0u);
    l.set_registration(fake_->registered_.back().registration());
  }
  ASSERT_TRUE(runner.Launch(l).ok());
  {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    fake_->answer_heartbeats_ = false;  // loomd "unreachable"; exit reports still get through
  }
  std::atomic<bool> stop{false};
  std::thread loop([&] { agent->Run(stop); });
  bool killed = false;
  for (int i = 0; i < 3000 && !killed; ++i) {  // bounded: 30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> lock(fake_->mu_);
    killed = !fake_->acked_.empty();
  }
  stop = true;
  agent->Wake();
  loop.join();
  ASSERT_TRUE(killed);
  std::lock_guard<std::mutex> lock(fake_->mu_);
  EXPECT_EQ(fake_->acked_[0].job_id(), 9);
  EXPECT_EQ(fake_->acked_[0].reason(), "NodeLeaseExpired");
  EXPECT_TRUE(runner.Running().empty());
}

TEST_F(NodeAgentTest, StepReportsNameTheRunLoomJobRunCountsFromOne) {
  Start(0);
  setenv("LOOM_SERVER", address().c_str(), 1);
  setenv("LOOM_JOB_ID", "12", 1);
  setenv("LOOM_JOB_RUN", "2", 1);  // the second attempt is Job.runs[1]
  auto reporter = StepReporter::FromEnvironment(std::chrono::hours(1));
  ASSERT_TRUE(reporter.ok());
  ASSERT_NE(*reporter, nullptr);
  (*reporter)->Record(v1::StepSample());
  EXPECT_TRUE((*reporter)->Flush().ok());
  std::lock_guard<std::mutex> lock(fake_->mu_);
  ASSERT_EQ(fake_->steps_.size(), 1u);
  EXPECT_EQ(fake_->steps_[0].job_id(), 12);
  EXPECT_EQ(fake_->steps_[0].run(), 1);
}

TEST_F(NodeAgentTest, HealthGoesWithRegisterAndEveryHeartbeat) {
  Start(0);
  RunnerOptions ro;
  ro.state_dir = dir_;
  auto agent = Agent();
  JobRunner runner(ro, [](const JobExit&) {});
  agent->set_runner(&runner);
  agent->set_health([] {
    v1::NodeHealth h;
    h.set_failing(true);
    h.set_reason("NHC: /scratch not mounted");
    return h;
  });
  ASSERT_TRUE(agent->Register().ok());
  std::atomic<bool> stop{false};
  std::thread loop([&] { agent->Run(stop); });
  bool beat = false;
  for (int i = 0; i < 3000 && !beat; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> lock(fake_->mu_);
    beat = !fake_->heartbeats_.empty();
  }
  stop = true;
  agent->Wake();
  loop.join();
  std::lock_guard<std::mutex> lock(fake_->mu_);
  ASSERT_EQ(fake_->registered_.size(), 1u);
  EXPECT_TRUE(fake_->registered_[0].health().failing());
  ASSERT_TRUE(beat);
  EXPECT_EQ(fake_->heartbeats_[0].health().reason(), "NHC: /scratch not mounted");
}

TEST(ReportSpoolTest, KeepsOneReportPerAttemptAndSkipsGarbage) {
  char tmpl[] = "/tmp/loom-spool-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  ReportSpool spool(tmpl);
  v1::ReportJobExitRequest r;
  r.set_job_id(3);
  r.set_attempt(1);
  ASSERT_TRUE(spool.Put(r).ok());
  r.set_exit_code(9);
  ASSERT_TRUE(spool.Put(r).ok());  // the same attempt again replaces it
  r.set_attempt(2);
  ASSERT_TRUE(spool.Put(r).ok());
  { std::ofstream(std::string(tmpl) + "/4.1.exit") << "\xff\xff\xff not a report"; }
  auto loaded = spool.Load();
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].attempt(), 1);
  EXPECT_EQ(loaded[0].exit_code(), 9);
  EXPECT_EQ(loaded[1].attempt(), 2);
  ASSERT_TRUE(spool.Remove(3, 1).ok());
  ASSERT_TRUE(spool.Remove(3, 1).ok());  // already gone: fine
  EXPECT_EQ(spool.Load().size(), 1u);
  std::filesystem::remove_all(tmpl);
}

TEST(RetryDelayTest, DoublesFromTheMinimumUpToTheCap) {
  EXPECT_EQ(RetryDelayMs(0, 200, 30000), 0);
  EXPECT_EQ(RetryDelayMs(1, 200, 30000), 200);
  EXPECT_EQ(RetryDelayMs(2, 200, 30000), 400);
  EXPECT_EQ(RetryDelayMs(4, 200, 30000), 1600);
  EXPECT_EQ(RetryDelayMs(50, 200, 30000), 30000);
  EXPECT_EQ(RetryDelayMs(1000000, 200, 30000), 30000);
}

}  // namespace
}  // namespace loom::worker
