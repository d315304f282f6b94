// Every entry point of the ControlPlane whose commit fails: nothing is applied (what readers see,
// the store and the workers are as before), and the next try succeeds.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "scheduler/service/control_plane.h"
#include "scheduler/service/testing_fakes.h"
#include "scheduler/store/memory_store.h"

namespace loom {
namespace {

// Bytes of `m` with maps in key order (the spec's env is a map), so two reads compare equal.
std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

class CommitFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto failing = std::make_unique<store::FailingStore>(&memory_);
    failing_ = failing.get();
    ControlPlaneOptions options;
    options.node_timeout_ms = 5000;
    auto cp = ControlPlane::Create(std::move(failing), &workers_, &clock_, options);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Register(i, "s", {}).ok());
  }

  Status Register(int node, const std::string& session, std::vector<int64_t> running) {
    v1::RegisterRequest r;
    r.mutable_node()->set_name("n" + std::to_string(node));
    r.mutable_node()->set_address("n" + std::to_string(node) + ":1");
    for (int g = 0; g < 4; ++g) r.mutable_node()->add_gpus()->set_index(g);
    r.set_session(session + std::to_string(node));
    for (int64_t id : running) r.add_running()->set_job_id(id);
    return cp_->Register(r).status();
  }
  v1::HeartbeatReply Heartbeat(int node, std::vector<int64_t> running, bool sick = false) {
    v1::HeartbeatRequest hb;
    hb.set_node("n" + std::to_string(node));
    hb.set_session("s" + std::to_string(node));
    for (int64_t id : running) hb.add_running()->set_job_id(id);
    hb.mutable_health()->set_failing(sick);
    hb.mutable_health()->set_reason(sick ? "gpu lost" : "");
    const std::string address = "n" + std::to_string(node) + ":1";
    hb.set_launch_mark(workers_.Mark(address));
    v1::HeartbeatReply reply = cp_->Heartbeat(hb);
    (void)workers_.Mark(address, &reply);
    return reply;
  }
  int64_t Submit(int gpus) {
    v1::JobSpec spec;
    spec.set_gpus(gpus);
    spec.add_command("/bin/true");
    return *cp_->Submit(spec);
  }
  int64_t Started(int gpus) {
    int64_t id = Submit(gpus);
    EXPECT_EQ(cp_->SchedulePass(), 1);
    return id;
  }
  v1::JobState State(int64_t id) { return cp_->GetJob(id)->state(); }
  std::string Head(int64_t id) { return cp_->GetJob(id)->allocation(0).node(); }
  int NodeIndexOf(const std::string& name) { return name[1] - '0'; }

  // What readers and workers see, to compare before and after a failed commit.
  std::string Seen() {
    std::string out;
    for (v1::Job& j : cp_->ListJobs({})) out += Bytes(j);
    for (v1::Node& n : cp_->ListNodes()) {
      n.clear_last_heartbeat_ms();
      out += n.SerializeAsString();
    }
    out += std::to_string(cp_->GetStats()->gpus_allocated()) + "/" +
           std::to_string(workers_.launches.size()) + "/" + std::to_string(workers_.kills.size()) +
           "/" + std::to_string(memory_.commits());
    return out;
  }
  // Runs `call` with the next commit failing and checks it changed nothing.
  template <typename Call>
  void FailsAndChangesNothing(Call call) {
    const std::string before = Seen();
    const int failed = failing_->failed();
    failing_->FailCommits(1);
    call();
    EXPECT_EQ(failing_->failed(), failed + 1) << "the call did not try to commit";
    failing_->FailCommits(0);
    EXPECT_EQ(Seen(), before);
  }

  FakeClock clock_;
  FakeWorkers workers_;
  store::MemoryStore memory_;
  store::FailingStore* failing_ = nullptr;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(CommitFailureTest, Submit) {
  FailsAndChangesNothing([&] {
    v1::JobSpec spec;
    spec.set_gpus(1);
    spec.add_command("/bin/true");
    EXPECT_EQ(cp_->Submit(spec).status().code(), StatusCode::kInternal);
  });
  EXPECT_EQ(Submit(1), 1);  // the id was not used up
  EXPECT_EQ(State(1), v1::PENDING);
}

TEST_F(CommitFailureTest, SchedulePass) {
  const int64_t id = Submit(4);
  FailsAndChangesNothing([&] { EXPECT_EQ(cp_->SchedulePass(), 0); });
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(State(id), v1::RUNNING);
  EXPECT_EQ(workers_.launches.size(), 1u);
}

TEST_F(CommitFailureTest, Cancel) {
  const int64_t pending = Submit(12);
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Cancel(pending).ok()); });
  EXPECT_EQ(cp_->Cancel(pending)->state(), v1::CANCELLED);
  const int64_t running = Started(4);
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Cancel(running).ok()); });
  EXPECT_EQ(cp_->Cancel(running)->state(), v1::CANCELLED);
  EXPECT_EQ(workers_.kills.size(), 1u);
}

TEST_F(CommitFailureTest, ReportJobExit) {
  const int64_t id = Started(4);
  v1::ReportJobExitRequest r;
  r.set_job_id(id);
  r.set_node(Head(id));
  r.set_attempt(1);
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->ReportJobExit(r).ok()); });  // the worker retries
  EXPECT_TRUE(cp_->ReportJobExit(r).ok());
  EXPECT_EQ(State(id), v1::COMPLETED);
}

TEST_F(CommitFailureTest, RegisterOfAWorkerThatLostItsJob) {
  const int64_t id = Started(4);
  const int node = NodeIndexOf(Head(id));
  clock_.now += 6000;
  FailsAndChangesNothing([&] { EXPECT_FALSE(Register(node, "restarted", {}).ok()); });
  EXPECT_TRUE(Register(node, "restarted", {}).ok());
  EXPECT_EQ(State(id), v1::PENDING);
}

TEST_F(CommitFailureTest, HeartbeatThatDrainsItsNode) {
  FailsAndChangesNothing([&] { EXPECT_FALSE(Heartbeat(0, {}, /*sick=*/true).reregister()); });
  (void)Heartbeat(0, {}, /*sick=*/true);
  EXPECT_EQ(cp_->ListNodes()[0].state(), v1::DRAINED);
  EXPECT_EQ(cp_->ListNodes()[0].reason(), "gpu lost");
}

TEST_F(CommitFailureTest, HeartbeatThatLosesAJob) {
  const int64_t id = Started(4);
  const int node = NodeIndexOf(Head(id));
  (void)Heartbeat(node, {});  // one miss
  FailsAndChangesNothing([&] { (void)Heartbeat(node, {}); });
  EXPECT_EQ(State(id), v1::RUNNING);
  (void)Heartbeat(node, {});  // the second miss, recorded this time
  EXPECT_EQ(State(id), v1::PENDING);
  EXPECT_EQ(cp_->GetJob(id)->runs(0).cause(), v1::CAUSE_WORKER_LOST);
}

TEST_F(CommitFailureTest, CheckLiveness) {
  clock_.now += 6000;
  FailsAndChangesNothing([&] { cp_->CheckLiveness(); });
  cp_->CheckLiveness();
  for (const v1::Node& n : cp_->ListNodes()) EXPECT_EQ(n.state(), v1::DOWN);
}

TEST_F(CommitFailureTest, DrainAndResume) {
  v1::DrainRequest drain;
  drain.add_nodes("n1");
  drain.set_reason("fan");
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Drain(drain).ok()); });
  ASSERT_TRUE(cp_->Drain(drain).ok());
  EXPECT_EQ(cp_->ListNodes()[1].state(), v1::DRAINED);
  v1::ResumeRequest resume;
  resume.add_nodes("n1");
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Resume(resume).ok()); });
  ASSERT_TRUE(cp_->Resume(resume).ok());
  EXPECT_EQ(cp_->ListNodes()[1].state(), v1::UP);
}

// A launch that fails and whose failure cannot be recorded leaves the job RUNNING without
// ranks; heartbeats find it missing and requeue it.
TEST_F(CommitFailureTest, LaunchFailureNotRecordedIsCaughtByHeartbeats) {
  workers_.fail_launch = true;
  workers_.on_launch = [&] { failing_->FailCommits(1); };
  const int64_t id = Submit(4);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(failing_->failed(), 1);
  EXPECT_EQ(State(id), v1::RUNNING);
  workers_.on_launch = nullptr;
  const int node = NodeIndexOf(Head(id));
  (void)Heartbeat(node, {});
  (void)Heartbeat(node, {});
  EXPECT_EQ(State(id), v1::PENDING);
}

v1::JobRef Ref(int64_t id) {
  v1::JobRef r;
  r.set_job_id(id);
  return r;
}

TEST_F(CommitFailureTest, HoldAndRelease) {
  const int64_t id = Submit(12);
  FailsAndChangesNothing([&] { EXPECT_EQ(cp_->Hold({Ref(id)}).status().code(), StatusCode::kInternal); });
  ASSERT_TRUE(cp_->Hold({Ref(id)}).ok());
  EXPECT_EQ(cp_->GetJob(id)->reason(), "JobHeldUser");
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Release({Ref(id)}).ok()); });
  ASSERT_TRUE(cp_->Release({Ref(id)}).ok());
  EXPECT_EQ(cp_->SchedulePass(), 1);
}

TEST_F(CommitFailureTest, ArraySubmitIsOneCommit) {
  v1::JobSpec spec;
  spec.set_gpus(1);
  spec.set_array("0-99%2");
  spec.add_command("/bin/true");
  const int commits = memory_.commits();
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->Submit(spec).ok()); });
  auto id = cp_->Submit(spec);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 1);  // no id was used up by the failed one
  EXPECT_EQ(memory_.commits(), commits + 1);
  EXPECT_EQ(cp_->ListJobs({}).size(), 100u);
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->CancelJobs({Ref(1)}).ok()); });
  ASSERT_TRUE(cp_->CancelJobs({Ref(1)}).ok());
  EXPECT_EQ(cp_->ListJobs({v1::CANCELLED}).size(), 100u);
}

// The exit that ends a job and the wake-up of its dependent are one commit: both or neither.
TEST_F(CommitFailureTest, ExitThatSatisfiesADependency) {
  const int64_t first = Started(4);
  v1::JobSpec spec;
  spec.set_gpus(4);
  spec.add_command("/bin/true");
  v1::Dependency* d = spec.add_dependencies();
  d->set_type(v1::AFTER_OK);
  d->set_job_id(first);
  const int64_t second = *cp_->Submit(spec);
  EXPECT_EQ(cp_->GetJob(second)->reason(), "Dependency");
  v1::ReportJobExitRequest r;
  r.set_job_id(first);
  r.set_node(Head(first));
  r.set_attempt(1);
  FailsAndChangesNothing([&] { EXPECT_FALSE(cp_->ReportJobExit(r).ok()); });
  EXPECT_EQ(cp_->GetJob(second)->wait(), v1::WAIT_DEPENDENCY);
  ASSERT_TRUE(cp_->ReportJobExit(r).ok());
  EXPECT_EQ(cp_->GetJob(second)->wait(), v1::WAIT_NONE);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(State(second), v1::RUNNING);
}

}  // namespace
}  // namespace loom
