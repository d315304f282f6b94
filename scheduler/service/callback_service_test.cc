// SchedulerCallbackService over real gRPC on loopback, against a ControlPlane with fake workers:
// heartbeats answered inline, the ones that must commit and every other call answered from the
// pool, with the same replies the RPC bodies give; and CallPool's own contract.
#include "scheduler/service/callback_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "scheduler/service/testing_fakes.h"

namespace loom {
namespace {

using namespace std::chrono_literals;

// Polls `done` for up to 30 s (no timing assertion: only a bound on a wait).
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(CallPoolTest, RunsEveryTaskOnAtMostItsThreads) {
  std::atomic<int> active{0}, peak{0}, ran{0};
  std::atomic<bool> release{false};
  {
    CallPool pool(3);
    EXPECT_EQ(pool.threads(), 3);
    for (int i = 0; i < 12; ++i) {
      pool.Post([&] {
        const int now = ++active;
        for (int p = peak; now > p && !peak.compare_exchange_weak(p, now);) {}
        while (!release) std::this_thread::sleep_for(1ms);
        --active;
        ++ran;
      });
    }
    // All three threads get a task while the rest wait in the queue.
    ASSERT_TRUE(Eventually([&] { return active == 3; }));
    EXPECT_EQ(ran, 0);
    release = true;
  }  // the destructor runs what is still queued
  EXPECT_EQ(ran, 12);
  EXPECT_EQ(peak, 3);
}

TEST(CallPoolTest, AtLeastOneThread) {
  std::atomic<int> ran{0};
  {
    CallPool pool(0);
    EXPECT_EQ(pool.threads(), 1);
    pool.Post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 1);
}

class CallbackServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-cbs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = store::Store::Open(dir_ + "/loomd.db", {.sync_full = false});
    ASSERT_TRUE(store.ok());
    auto cp = ControlPlane::Create(std::move(*store), &workers_, &clock_, ControlPlaneOptions());
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    impl_ = std::make_unique<SchedulerService>(cp_.get(), nullptr, &clock_, /*authenticator=*/nullptr);
    service_ = std::make_unique<SchedulerCallbackService>(impl_.get(), &pool_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ && port > 0);
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 5s);
    std::filesystem::remove_all(dir_);
  }

  template <typename Req, typename Rep, typename Call>
  grpc::Status Rpc(Call call, const Req& req, Rep* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    return ((*stub_).*call)(&ctx, req, reply);
  }

  grpc::Status Register(const std::string& name, const std::string& session) {
    v1::RegisterRequest r;
    r.mutable_node()->set_name(name);
    r.mutable_node()->set_address(name + ":1");
    r.mutable_node()->add_gpus()->set_index(0);
    r.set_session(session);
    v1::RegisterReply reply;
    return Rpc(&v1::Scheduler::Stub::Register, r, &reply);
  }

  v1::HeartbeatRequest Beat(const std::string& name, const std::string& session) {
    v1::HeartbeatRequest hb;
    hb.set_node(name);
    hb.set_session(session);
    hb.set_launch_mark(workers_.Mark(name + ":1"));  // the worker has processed every Launch sent
    return hb;
  }

  std::string dir_;
  FakeClock clock_;
  FakeWorkers workers_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<SchedulerService> impl_;
  CallPool pool_{2};
  std::unique_ptr<SchedulerCallbackService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

TEST_F(CallbackServiceTest, HeartbeatsAnswerInlineOrFromThePoolWithTheSameRules) {
  ASSERT_TRUE(Register("n0", "s0").ok());
  v1::HeartbeatReply reply;
  // The common case: known node, nothing to commit.
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, Beat("n0", "s0"), &reply).ok());
  EXPECT_FALSE(reply.reregister());
  // An unknown node, or an old session, is told to register again.
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, Beat("n9", "s9"), &reply).ok());
  EXPECT_TRUE(reply.reregister());
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, Beat("n0", "old"), &reply).ok());
  EXPECT_TRUE(reply.reregister());
  // A bad node name is refused before ControlPlane sees it.
  EXPECT_EQ(Rpc(&v1::Scheduler::Stub::Heartbeat, Beat("bad name!", "s0"), &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // A job that runs on n0, then drops out of its heartbeats: the second one without it commits
  // (WorkerLost: requeued), which is the pool's path.
  v1::SubmitRequest submit;
  submit.mutable_spec()->set_gpus(1);
  submit.mutable_spec()->add_command("/bin/true");
  v1::SubmitReply submitted;
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Submit, submit, &submitted).ok());
  ASSERT_EQ(cp_->SchedulePass(/*force=*/true), 1);
  ASSERT_EQ(cp_->GetJob(submitted.job_id())->state(), v1::RUNNING);
  v1::HeartbeatRequest listing = Beat("n0", "s0");
  listing.add_running()->set_job_id(submitted.job_id());
  listing.mutable_running(0)->set_attempt(1);
  ASSERT_TRUE(cp_->TryHeartbeat(listing).has_value());  // listed: nothing to commit
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, listing, &reply).ok());
  EXPECT_EQ(reply.kill_size(), 0);
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, Beat("n0", "s0"), &reply).ok());  // one miss
  EXPECT_EQ(cp_->GetJob(submitted.job_id())->state(), v1::RUNNING);
  v1::HeartbeatRequest second = Beat("n0", "s0");
  ASSERT_FALSE(cp_->TryHeartbeat(second).has_value());  // the second miss must commit
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::Heartbeat, second, &reply).ok());
  EXPECT_FALSE(reply.reregister());
  const v1::Job job = *cp_->GetJob(submitted.job_id());
  EXPECT_EQ(job.state(), v1::PENDING);
  ASSERT_GE(job.runs_size(), 1);
  EXPECT_EQ(job.runs(0).cause(), v1::CAUSE_WORKER_LOST);
}

TEST_F(CallbackServiceTest, PooledCallsKeepTheirRepliesAndErrors) {
  ASSERT_TRUE(Register("n0", "s0").ok());
  v1::ListNodesReply nodes;
  ASSERT_TRUE(Rpc(&v1::Scheduler::Stub::ListNodes, v1::ListNodesRequest(), &nodes).ok());
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).name(), "n0");
  v1::GetJobRequest get;
  get.set_job_id(42);
  v1::Job job;
  EXPECT_EQ(Rpc(&v1::Scheduler::Stub::GetJob, get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::SubmitRequest bad;  // no command
  v1::SubmitReply reply;
  EXPECT_EQ(Rpc(&v1::Scheduler::Stub::Submit, bad, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Many calls at once on a 2-thread pool: each gets its own answer.
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      v1::SubmitRequest s;
      s.mutable_spec()->set_gpus(1);
      s.mutable_spec()->set_name("j" + std::to_string(i));
      s.mutable_spec()->add_command("/bin/true");
      v1::SubmitReply r;
      if (Rpc(&v1::Scheduler::Stub::Submit, s, &r).ok() && r.job_id() > 0) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 16);
  EXPECT_EQ(cp_->ListJobs({v1::PENDING}).size(), 16u);
}

}  // namespace
}  // namespace loom
