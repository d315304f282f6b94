// ControlPlane's hold/release, dependencies and job arrays over SQLite, a fake clock and fake
// workers: what survives a restart, what the core sees, how references resolve.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "scheduler/service/control_plane.h"
#include "scheduler/service/testing_fakes.h"

namespace loom {
namespace {

v1::JobRef Ref(int64_t id, std::optional<int> task = std::nullopt) {
  v1::JobRef r;
  r.set_job_id(id);
  if (task) r.set_array_task(*task);
  return r;
}

class ControlPlaneJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-cpj-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Restart();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A (re)started loomd over the same database, its three 4-GPU workers registered again.
  void Restart(const std::vector<int64_t>& running = {}) {
    cp_.reset();
    auto store = store::Store::Open(dir_ + "/loomd.db", {.sync_full = false});
    ASSERT_TRUE(store.ok());
    auto cp = ControlPlane::Create(std::move(*store), &workers_, &clock_, {});
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
    ++generation_;
    for (int i = 0; i < 3; ++i) {
      v1::RegisterRequest r;
      r.mutable_node()->set_name("n" + std::to_string(i));
      r.mutable_node()->set_address("n" + std::to_string(i) + ":1");
      for (int g = 0; g < 4; ++g) r.mutable_node()->add_gpus()->set_index(g);
      r.set_session("s" + std::to_string(generation_) + "_" + std::to_string(i));
      for (int64_t id : running) r.add_running()->set_job_id(id);
      ASSERT_TRUE(cp_->Register(r).ok());
    }
  }

  v1::JobSpec Spec(int gpus) {
    v1::JobSpec spec;
    spec.set_gpus(gpus);
    spec.add_command("/bin/true");
    return spec;
  }
  v1::Job Get(int64_t id) { return *cp_->GetJob(id); }
  // Every rank of `id` exits with `code`.
  void Exit(int64_t id, int code = 0) {
    const v1::Job job = Get(id);
    for (const auto& a : job.allocation()) {
      v1::ReportJobExitRequest r;
      r.set_job_id(id);
      r.set_attempt(job.attempt());
      r.set_node(a.node());
      r.set_exit_code(code);
      ASSERT_TRUE(cp_->ReportJobExit(r).ok());
    }
  }
  int Running() { return static_cast<int>(cp_->ListJobs({v1::RUNNING}).size()); }

  std::string dir_;
  int generation_ = 0;
  FakeClock clock_;
  FakeWorkers workers_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(ControlPlaneJobsTest, HeldJobsSurviveARestartAndKeepTheirSubmitTime) {
  v1::JobSpec held = Spec(12);
  held.set_hold(true);
  const int64_t first = *cp_->Submit(held);
  clock_.now += 1000;
  const int64_t second = *cp_->Submit(Spec(12));
  ASSERT_TRUE(cp_->Hold({Ref(second)}).ok());
  EXPECT_EQ(cp_->SchedulePass(true), 0);  // the core sees neither
  Restart();
  for (int64_t id : {first, second}) {
    EXPECT_TRUE(Get(id).held());
    EXPECT_EQ(Get(id).reason(), "JobHeldUser");
  }
  EXPECT_EQ(cp_->SchedulePass(true), 0);
  ASSERT_TRUE(cp_->Release({Ref(second)}).ok());
  ASSERT_TRUE(cp_->Release({Ref(first)}).ok());
  EXPECT_EQ(cp_->SchedulePass(true), 1);
  EXPECT_EQ(Get(first).state(), v1::RUNNING);  // submitted first, released last: still first
  EXPECT_EQ(Get(second).state(), v1::PENDING);
}

TEST_F(ControlPlaneJobsTest, HoldingARunningOrFinishedJobChangesNothing) {
  const int64_t running = *cp_->Submit(Spec(4));
  const int64_t pending = *cp_->Submit(Spec(12));
  ASSERT_EQ(cp_->SchedulePass(), 1);
  auto held = cp_->Hold({Ref(pending), Ref(running)});
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(held.status().message().find("only pending jobs can be held"), std::string::npos);
  EXPECT_FALSE(Get(pending).held());  // all or nothing
  EXPECT_EQ(cp_->Hold({Ref(99)}).status().code(), StatusCode::kNotFound);
}

TEST_F(ControlPlaneJobsTest, ArrayTasksRunAtMostKAtOnceWithTheirEnvironment) {
  v1::JobSpec spec = Spec(1);
  spec.set_array("0-9%3");
  const int64_t array = *cp_->Submit(spec);
  ASSERT_EQ(cp_->ListJobs({}).size(), 10u);
  EXPECT_EQ(cp_->SchedulePass(), 3);
  EXPECT_EQ(Get(array + 5).reason(), "JobArrayTaskLimit");
  EXPECT_EQ(Get(array + 5).array().task_id(), 5);
  ASSERT_EQ(workers_.launches.size(), 3u);
  const auto& env = workers_.launches[2].second.job().spec().env();
  EXPECT_EQ(env.at("LOOM_ARRAY_JOB_ID"), std::to_string(array));
  EXPECT_EQ(env.at("LOOM_ARRAY_TASK_ID"), "2");
  EXPECT_EQ(env.at("LOOM_ARRAY_TASK_COUNT"), "10");
  EXPECT_EQ(env.at("LOOM_ARRAY_TASK_MIN"), "0");
  EXPECT_EQ(env.at("LOOM_ARRAY_TASK_MAX"), "9");
  int started = 3;
  for (int round = 0; round < 10 && started < 10; ++round) {
    for (const v1::Job& j : cp_->ListJobs({v1::RUNNING})) Exit(j.id());
    EXPECT_EQ(Running(), 0);
    started += cp_->SchedulePass();
    EXPECT_LE(Running(), 3);
  }
  EXPECT_EQ(started, 10);
}

TEST_F(ControlPlaneJobsTest, ReferencesNameOneTaskOrTheWholeArray) {
  v1::JobSpec spec = Spec(12);  // one at a time: the rest stay pending
  spec.set_array("1,3,5-7");
  const int64_t array = *cp_->Submit(spec);
  ASSERT_TRUE(cp_->CancelJobs({Ref(array, 6)}).ok());
  EXPECT_EQ(Get(array + 3).state(), v1::CANCELLED);  // tasks 1,3,5,6,7: task 6 is the 4th
  EXPECT_EQ(Get(array + 2).state(), v1::PENDING);
  EXPECT_EQ(cp_->CancelJobs({Ref(array, 2)}).status().code(), StatusCode::kNotFound);
  v1::ListJobsRequest list;
  list.set_array_job_id(array);
  list.set_array_task(7);
  auto page = cp_->ListJobsPage(list);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs_size(), 1);
  EXPECT_EQ(page->jobs(0).id(), array + 4);
  EXPECT_EQ(cp_->SchedulePass(), 1);  // task 1 runs
  ASSERT_TRUE(cp_->Hold({Ref(array)}).ok());  // the whole array: its pending tasks
  EXPECT_EQ(Get(array).state(), v1::RUNNING);
  EXPECT_TRUE(Get(array + 1).held());
  EXPECT_FALSE(Get(array + 3).held());  // cancelled before
  ASSERT_TRUE(cp_->CancelJobs({Ref(array)}).ok());
  EXPECT_EQ(cp_->ListJobs({v1::CANCELLED}).size(), 5u);
  ASSERT_EQ(workers_.kills.size(), 3u);  // the running task's ranks are told to stop, on each node
  for (const auto& kill : workers_.kills) EXPECT_EQ(kill.second, array);
  EXPECT_EQ(cp_->Hold({Ref(array)}).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneJobsTest, BadArraysAndDependenciesSubmitNothing) {
  v1::JobSpec big = Spec(1);
  big.set_array("0-100000");
  auto refused = cp_->Submit(big);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("MaxArraySize"), std::string::npos);
  v1::JobSpec dep = Spec(1);
  v1::Dependency* d = dep.add_dependencies();
  d->set_type(v1::AFTER_OK);
  d->set_job_id(42);
  auto unknown = cp_->Submit(dep);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "dependency on unknown job 42");
  d->set_type(v1::DEPENDENCY_UNSPECIFIED);
  EXPECT_EQ(cp_->Submit(dep).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(cp_->ListJobs({}).empty());
  EXPECT_EQ(*cp_->Submit(Spec(1)), 1);  // no id was used up
}

TEST_F(ControlPlaneJobsTest, DependencyOnAnArrayWaitsForEveryTaskAcrossARestart) {
  v1::JobSpec tasks = Spec(4);
  tasks.set_array("0-1");
  const int64_t array = *cp_->Submit(tasks);
  v1::JobSpec after = Spec(4);
  v1::Dependency* d = after.add_dependencies();
  d->set_type(v1::AFTER_OK);
  d->set_job_id(array);
  const int64_t waiter = *cp_->Submit(after);
  EXPECT_TRUE(Get(waiter).pending_dependencies(0).whole_array());
  v1::JobSpec on_task = Spec(4);  // afterok:ARRAY_1 names the task's own job
  on_task.add_dependencies()->set_type(v1::AFTER_OK);
  on_task.mutable_dependencies(0)->set_job_id(array);
  on_task.mutable_dependencies(0)->set_array_task(1);
  const int64_t on_task_id = *cp_->Submit(on_task);
  EXPECT_EQ(Get(on_task_id).pending_dependencies(0).job_id(), array + 1);
  EXPECT_FALSE(Get(on_task_id).pending_dependencies(0).whole_array());
  on_task.mutable_dependencies(0)->set_array_task(5);
  EXPECT_EQ(cp_->Submit(on_task).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(cp_->CancelJobs({Ref(on_task_id)}).ok());
  EXPECT_EQ(cp_->SchedulePass(), 2);
  Exit(array);
  EXPECT_EQ(Get(waiter).reason(), "Dependency");
  Restart({array + 1});  // loomd restarts while the second task still runs
  EXPECT_EQ(Get(waiter).wait(), v1::WAIT_DEPENDENCY);
  Exit(array + 1);
  EXPECT_EQ(Get(waiter).wait(), v1::WAIT_NONE);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(Get(waiter).state(), v1::RUNNING);
}

TEST_F(ControlPlaneJobsTest, DependencyOnAnArrayThatLeftMemoryReadsItsTasksFromTheStore) {
  v1::JobSpec tasks = Spec(4);
  tasks.set_array("0-1");
  const int64_t array = *cp_->Submit(tasks);
  ASSERT_EQ(cp_->SchedulePass(), 2);
  Exit(array, 3);     // task 0 FAILED
  Exit(array + 1, 0); // task 1 COMPLETED
  clock_.now += cp_->options().min_job_age_ms + 1;
  ASSERT_EQ(cp_->ForgetFinished(), 2);  // only the store has the array now
  auto on = [&](v1::DependencyType type, std::optional<int> task = std::nullopt) {
    v1::JobSpec spec = Spec(1);
    v1::Dependency* d = spec.add_dependencies();
    d->set_type(type);
    d->set_job_id(array);
    if (task) d->set_array_task(*task);
    auto id = cp_->Submit(spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? Get(*id) : v1::Job();
  };
  const v1::Job afterok = on(v1::AFTER_OK);  // a task failed: never satisfied
  EXPECT_EQ(afterok.state(), v1::CANCELLED);
  EXPECT_EQ(afterok.reason(), "DependencyNeverSatisfied");
  EXPECT_EQ(on(v1::AFTER_ANY).wait(), v1::WAIT_NONE);
  EXPECT_EQ(on(v1::AFTER_NOT_OK).wait(), v1::WAIT_NONE);
  const v1::Job on_task1 = on(v1::AFTER_OK, 1);  // task 1 alone completed
  EXPECT_EQ(on_task1.wait(), v1::WAIT_NONE);
  EXPECT_EQ(on_task1.state(), v1::PENDING);
  EXPECT_EQ(on(v1::AFTER_OK, 0).state(), v1::CANCELLED);
  // `loom show ARRAY_1` of it: its task from the store.
  v1::ListJobsRequest show;
  show.set_array_job_id(array);
  show.set_array_task(1);
  auto page = cp_->ListJobsPage(show);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->jobs_size(), 1);
  EXPECT_EQ(page->jobs(0).id(), array + 1);
  EXPECT_EQ(page->jobs(0).state(), v1::COMPLETED);
  show.clear_array_task();
  EXPECT_EQ(cp_->ListJobsPage(show)->jobs_size(), 2);
}

TEST_F(ControlPlaneJobsTest, AfterokOnAFailedJobCancelsTheChainAndSingletonSerialises) {
  const int64_t a = *cp_->Submit(Spec(4));
  v1::JobSpec b = Spec(4);
  b.add_dependencies()->set_type(v1::AFTER_OK);
  b.mutable_dependencies(0)->set_job_id(a);
  const int64_t b_id = *cp_->Submit(b);
  ASSERT_EQ(cp_->SchedulePass(), 1);
  Exit(a, 3);
  EXPECT_EQ(Get(a).state(), v1::FAILED);
  EXPECT_EQ(Get(b_id).state(), v1::CANCELLED);
  EXPECT_EQ(Get(b_id).reason(), "DependencyNeverSatisfied");

  v1::JobSpec single = Spec(1);
  single.set_name("nightly");
  single.add_dependencies()->set_type(v1::SINGLETON);
  const int64_t s1 = *cp_->Submit(single);
  const int64_t s2 = *cp_->Submit(single);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(Get(s1).state(), v1::RUNNING);
  EXPECT_EQ(Get(s2).reason(), "Dependency");
  Exit(s1);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(Get(s2).state(), v1::RUNNING);
}

}  // namespace
}  // namespace loom
