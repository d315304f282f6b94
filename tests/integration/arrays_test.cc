// Hold/release, dependencies and job arrays end to end: real loomd, loom-worker and loom
// processes on loopback (docs/ARRAYS_AND_DEPENDENCIES.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

class ArraysIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }
  // The number of jobs loomd knows, to check that refused input submitted nothing.
  int JobCount() {
    CommandResult r = cluster_.Loom({"queue", "--all", "--json"});
    int count = 0;
    for (size_t at = r.out.find("\"id\":"); at != std::string::npos; at = r.out.find("\"id\":", at + 1)) ++count;
    return count;
  }
  void ExpectOneLineError(const std::vector<std::string>& args, const std::string& needle) {
    CommandResult r = cluster_.Loom(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  LocalCluster cluster_;
};

// a (held) → afterok b (fails) → afternotok c, and afterok d that can never run.
TEST_F(ArraysIntegrationTest, PipelineWithHoldReleaseAndDependencies) {
  const std::string dir = cluster_.MakeDir("pipeline");
  auto a = cluster_.Submit({"--hold", "-D", dir, "--", "/bin/sh", "-c", "touch a.ran"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  const std::string A = std::to_string(*a);
  auto b = cluster_.Submit({"--dependency", "afterok:" + A, "-D", dir, "--", "/bin/sh", "-c", "touch b.ran; exit 3"});
  ASSERT_TRUE(b.ok()) << b.status().message();
  const std::string B = std::to_string(*b);
  auto c = cluster_.Submit({"-d", "afternotok:" + B, "-D", dir, "--", "/bin/sh", "-c", "touch c.ran"});
  auto d = cluster_.Submit({"-d", "afterok:" + B + ",afterany:" + A, "-D", dir, "--", "/bin/sh", "-c", "touch d.ran"});
  ASSERT_TRUE(c.ok() && d.ok());

  CommandResult q = cluster_.Loom({"queue"});
  EXPECT_NE(q.out.find("(JobHeldUser)"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("(Dependency)"), std::string::npos) << q.out;

  // A running job cannot be held: one line, non-zero, and it runs on.
  auto running = cluster_.Submit({"--", "/bin/sleep", "60"});
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(cluster_.WaitForState(*running, v1::RUNNING).ok());
  ExpectOneLineError({"hold", std::to_string(*running)}, "only pending jobs can be held");
  EXPECT_EQ(cluster_.GetJob(*running)->state(), v1::RUNNING);
  EXPECT_EQ(cluster_.Loom({"cancel", std::to_string(*running)}).exit_code, 0);

  // Bad input changes nothing.
  const int before = JobCount();
  ASSERT_EQ(before, 5);
  ExpectOneLineError({"submit", "--dependency", "afterok:9999", "--", "/bin/true"}, "no job 9999");
  ExpectOneLineError({"submit", "--dependency", "after:" + A, "--", "/bin/true"}, "unknown type 'after'");
  ExpectOneLineError({"submit", "--array", "5-1", "--", "/bin/true"}, "ends before it starts");
  ExpectOneLineError({"submit", "--array", "0-100000", "--", "/bin/true"}, "MaxArraySize");
  ExpectOneLineError({"release", "x"}, "invalid job id");
  EXPECT_EQ(JobCount(), before);
  EXPECT_EQ(cluster_.GetJob(*a)->state(), v1::PENDING);
  EXPECT_FALSE(std::ifstream(dir + "/a.ran").good());  // held: it never started

  CommandResult released = cluster_.Loom({"release", A});
  ASSERT_EQ(released.exit_code, 0) << released.err;
  auto c_done = cluster_.WaitForState(*c, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(c_done.ok()) << c_done.status().message();
  EXPECT_EQ(cluster_.GetJob(*a)->state(), v1::COMPLETED);
  EXPECT_EQ(cluster_.GetJob(*b)->state(), v1::FAILED);
  auto d_row = cluster_.WaitForState(*d, v1::CANCELLED);
  ASSERT_TRUE(d_row.ok());
  EXPECT_EQ(d_row->reason(), "DependencyNeverSatisfied");
  EXPECT_FALSE(std::ifstream(dir + "/d.ran").good());
  // Each ran after what it depended on ended.
  EXPECT_GE(c_done->start_time_ms(), cluster_.GetJob(*b)->end_time_ms());
  EXPECT_GE(cluster_.GetJob(*b)->start_time_ms(), cluster_.GetJob(*a)->end_time_ms());
}

// Each task records its own start and end (ns); they wait for a `go` file so that the queue can
// be read while four tasks are pending.
const char* kTask =
    "echo \"$LOOM_ARRAY_JOB_ID $LOOM_ARRAY_TASK_ID $LOOM_ARRAY_TASK_COUNT $(date +%s%N)\" > rec.$LOOM_ARRAY_TASK_ID;"
    " while [ ! -f go ]; do sleep 0.05; done; sleep 0.2; date +%s%N >> rec.$LOOM_ARRAY_TASK_ID";

TEST_F(ArraysIntegrationTest, ArrayWithLimitTwoNeverRunsMoreThanTwo) {
  const std::string dir = cluster_.MakeDir("array");
  auto id = cluster_.Submit({"--array", "0-6%2", "-D", dir, "--", "/bin/sh", "-c", kTask});
  ASSERT_TRUE(id.ok()) << id.status().message();
  const int64_t array = *id;
  const std::string A = std::to_string(array);
  ASSERT_TRUE(WaitForFile(dir + "/rec.0") && WaitForFile(dir + "/rec.1"));

  CommandResult q = cluster_.Loom({"queue"});
  EXPECT_NE(q.out.find(A + "_0 "), std::string::npos) << q.out;
  EXPECT_NE(q.out.find(A + "_1 "), std::string::npos) << q.out;
  EXPECT_NE(q.out.find(A + "_[2-6%2]"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("(JobArrayTaskLimit)"), std::string::npos) << q.out;
  CommandResult show = cluster_.Loom({"show", A + "_4"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("ArrayJob       " + A + "_4 (task 4 of 7, at most 2 at once)"), std::string::npos) << show.out;
  ExpectOneLineError({"show", A + "_9"}, "no task");
  CommandResult cancel = cluster_.Loom({"cancel", A + "_6"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cluster_.GetJob(array + 6)->state(), v1::CANCELLED);

  std::ofstream(dir + "/go") << "go\n";
  for (int t = 0; t < 6; ++t) {
    auto done = cluster_.WaitForState(array + t, v1::COMPLETED, std::chrono::seconds(60));
    ASSERT_TRUE(done.ok()) << "task " << t << ": " << done.status().message();
  }
  // From the ranks' own records: who ran, with which environment, and never more than two at once.
  std::vector<std::pair<int64_t, int>> edges;  // (time, +1 start / -1 end)
  for (int t = 0; t < 6; ++t) {
    std::istringstream rec(ReadFile(dir + "/rec." + std::to_string(t)));
    int64_t job = 0, start = 0, end = 0;
    int task = -1, count = 0;
    rec >> job >> task >> count >> start >> end;
    EXPECT_EQ(job, array);
    EXPECT_EQ(task, t);
    EXPECT_EQ(count, 7);
    ASSERT_GT(end, start) << "task " << t;
    edges.push_back({start, +1});
    edges.push_back({end, -1});
  }
  EXPECT_FALSE(std::ifstream(dir + "/rec.6").good());  // the cancelled task never ran
  std::sort(edges.begin(), edges.end());  // an end before a start at the same instant
  int running = 0, most = 0;
  for (const auto& [time, step] : edges) most = std::max(most, running += step);
  EXPECT_EQ(most, 2);

  // A held array, cancelled whole by its id.
  auto held = cluster_.Submit({"--array", "0-9", "--hold", "--", "/bin/true"});
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(cluster_.Loom({"cancel", std::to_string(*held)}).exit_code, 0);
  for (int t = 0; t < 10; ++t) EXPECT_EQ(cluster_.GetJob(*held + t)->state(), v1::CANCELLED);
}

// Only a job's tenant (or an admin) may hold, release or depend on it.
TEST_F(ArraysIntegrationTest, AnotherTenantMayNotHoldOrDependOnAJob) {
  auto alice = SchedulerStub(cluster_.address(), cluster_.certs_dir(), "", cluster_.CreateToken("alice"));
  auto bob = SchedulerStub(cluster_.address(), cluster_.certs_dir(), "", cluster_.CreateToken("bob"));
  v1::SubmitRequest submit;
  submit.mutable_spec()->set_gpus(12);
  submit.mutable_spec()->set_hold(true);
  submit.mutable_spec()->add_command("/bin/true");
  v1::SubmitReply submitted;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(alice->Submit(&ctx, submit, &submitted).ok());
  }
  v1::JobsRequest jobs;
  jobs.add_jobs()->set_job_id(submitted.job_id());
  v1::JobsReply reply;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(bob->Release(&ctx, jobs, &reply).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(cluster_.GetJob(submitted.job_id())->held());
  v1::SubmitRequest after;
  after.mutable_spec()->set_gpus(1);
  after.mutable_spec()->add_command("/bin/true");
  v1::Dependency* d = after.mutable_spec()->add_dependencies();
  d->set_type(v1::AFTER_ANY);
  d->set_job_id(submitted.job_id());
  {
    grpc::ClientContext ctx;
    grpc::Status s = bob->Submit(&ctx, after, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(alice->Release(&ctx, jobs, &reply).ok());
  }
  ASSERT_EQ(reply.jobs_size(), 1);
  EXPECT_FALSE(reply.jobs(0).held());
}

}  // namespace
}  // namespace loom::testing
