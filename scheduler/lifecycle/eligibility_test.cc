// Hold, dependencies and job arrays in the pure lifecycle, table-driven, on plain maps.
#include "scheduler/lifecycle/eligibility.h"

#include <gtest/gtest.h>

#include <set>

namespace loom::lifecycle {
namespace {

constexpr int64_t kNow = 2'000'000;

class MapView final : public View {
 public:
  const v1::Job* job(int64_t id) const override {
    auto it = jobs.find(id);
    return it == jobs.end() ? nullptr : &it->second;
  }
  const v1::Node* node(const std::string&) const override { return nullptr; }
  std::vector<int64_t> JobsOn(const std::string&) const override { return {}; }
  bool Placeable(const std::string&) const override { return true; }
  std::vector<int64_t> ArrayTasks(int64_t array) const override {
    std::vector<int64_t> out;
    for (const auto& [id, j] : jobs) {
      if (j.array().array_job_id() == array) out.push_back(id);
    }
    return out;
  }
  std::vector<int64_t> Waiting() const override {
    std::vector<int64_t> out;
    for (const auto& [id, j] : jobs) {
      if (j.state() == v1::PENDING && j.wait() != v1::WAIT_NONE) out.push_back(id);
    }
    return out;
  }
  std::vector<int64_t> Named(const std::string& tenant, const std::string& name) const override {
    std::vector<int64_t> out;
    for (const auto& [id, j] : jobs) {
      if (j.spec().tenant() == tenant && j.spec().name() == name && !IsTerminal(j.state())) out.push_back(id);
    }
    return out;
  }
  void Apply(const Edit& edit) {
    for (const auto& [id, j] : edit.jobs) jobs[id] = j;
  }
  std::map<int64_t, v1::Job> jobs;
};

v1::Job Row(int64_t id, v1::JobState state) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.set_submit_time_ms(100 + id);
  j.mutable_spec()->set_name("train");
  j.mutable_spec()->set_tenant("t");
  j.mutable_spec()->set_gpus(1);
  j.mutable_spec()->add_command("/bin/true");
  j.set_released(IsTerminal(state));
  return j;
}

v1::Dependency Dep(v1::DependencyType type, int64_t job, bool whole_array = false) {
  v1::Dependency d;
  d.set_type(type);
  d.set_job_id(job);
  d.set_whole_array(whole_array);
  return d;
}

int CountCore(const Edit& e, CoreChange::Kind kind, int64_t job) {
  int n = 0;
  for (const CoreChange& c : e.core) n += c.kind == kind && c.job == job;
  return n;
}

TEST(EligibilityTest, TermOnOneJobFollowsSlurm) {
  struct Case {
    v1::DependencyType type;
    v1::JobState dep;
    TermState want;
  };
  const Case cases[] = {
      {v1::AFTER_OK, v1::PENDING, TermState::kWaiting},
      {v1::AFTER_OK, v1::RUNNING, TermState::kWaiting},
      {v1::AFTER_OK, v1::COMPLETED, TermState::kSatisfied},
      {v1::AFTER_OK, v1::FAILED, TermState::kNever},
      {v1::AFTER_OK, v1::CANCELLED, TermState::kNever},
      {v1::AFTER_OK, v1::NODE_FAIL, TermState::kNever},
      {v1::AFTER_OK, v1::TIMEOUT, TermState::kNever},
      {v1::AFTER_ANY, v1::RUNNING, TermState::kWaiting},
      {v1::AFTER_ANY, v1::COMPLETED, TermState::kSatisfied},
      {v1::AFTER_ANY, v1::FAILED, TermState::kSatisfied},
      {v1::AFTER_ANY, v1::CANCELLED, TermState::kSatisfied},
      {v1::AFTER_NOT_OK, v1::RUNNING, TermState::kWaiting},
      {v1::AFTER_NOT_OK, v1::COMPLETED, TermState::kNever},
      {v1::AFTER_NOT_OK, v1::FAILED, TermState::kSatisfied},
      {v1::AFTER_NOT_OK, v1::TIMEOUT, TermState::kSatisfied},
      {v1::AFTER_NOT_OK, v1::NODE_FAIL, TermState::kSatisfied},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(v1::DependencyType_Name(c.type) + " on " + v1::JobState_Name(c.dep));
    MapView view;
    view.jobs[1] = Row(1, c.dep);
    v1::Job waiter = Row(2, v1::PENDING);
    EXPECT_EQ(EvaluateTerm(Dep(c.type, 1), waiter, view), c.want);
  }
}

TEST(EligibilityTest, TermOnAnArrayCoversEveryTask) {
  struct Case {
    v1::DependencyType type;
    std::vector<v1::JobState> tasks;
    TermState want;
  };
  using S = v1::JobState;
  const Case cases[] = {
      {v1::AFTER_OK, {S::COMPLETED, S::RUNNING}, TermState::kWaiting},
      {v1::AFTER_OK, {S::COMPLETED, S::COMPLETED}, TermState::kSatisfied},
      {v1::AFTER_OK, {S::FAILED, S::RUNNING}, TermState::kNever},  // can no longer all succeed
      {v1::AFTER_ANY, {S::FAILED, S::RUNNING}, TermState::kWaiting},
      {v1::AFTER_ANY, {S::FAILED, S::COMPLETED}, TermState::kSatisfied},
      {v1::AFTER_NOT_OK, {S::FAILED, S::RUNNING}, TermState::kWaiting},
      {v1::AFTER_NOT_OK, {S::FAILED, S::COMPLETED}, TermState::kSatisfied},
      {v1::AFTER_NOT_OK, {S::COMPLETED, S::COMPLETED}, TermState::kNever},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(v1::DependencyType_Name(c.type));
    MapView view;
    for (size_t i = 0; i < c.tasks.size(); ++i) {
      v1::Job t = Row(10 + i, c.tasks[i]);
      t.mutable_array()->set_array_job_id(10);
      t.mutable_array()->set_task_id(i);
      view.jobs[t.id()] = t;
    }
    EXPECT_EQ(EvaluateTerm(Dep(c.type, 10, true), Row(20, v1::PENDING), view), c.want);
  }
}

TEST(EligibilityTest, SingletonWaitsForEarlierJobsOfItsNameAndTenant) {
  MapView view;
  view.jobs[1] = Row(1, v1::RUNNING);
  v1::Job other_tenant = Row(2, v1::RUNNING);
  other_tenant.mutable_spec()->set_tenant("u");
  view.jobs[2] = other_tenant;
  v1::Job waiter = Row(3, v1::PENDING);
  view.jobs[3] = waiter;
  const v1::Dependency single = Dep(v1::SINGLETON, 0);
  EXPECT_EQ(EvaluateTerm(single, waiter, view), TermState::kWaiting);
  view.jobs[1].set_state(v1::COMPLETED);
  EXPECT_EQ(EvaluateTerm(single, waiter, view), TermState::kSatisfied);  // tenant u's does not count
  view.jobs[4] = Row(4, v1::RUNNING);  // a later job of the same name does not block it
  EXPECT_EQ(EvaluateTerm(single, waiter, view), TermState::kSatisfied);
}

TEST(EligibilityTest, FirstReasonWins) {
  MapView view;
  view.jobs[1] = Row(1, v1::RUNNING);
  v1::Job j = Row(2, v1::PENDING);
  *j.add_pending_dependencies() = Dep(v1::AFTER_OK, 1);
  j.set_held(true);
  EXPECT_EQ(Evaluate(j, view, 0).wait, v1::WAIT_HELD);
  j.set_held(false);
  EXPECT_EQ(Evaluate(j, view, 0).wait, v1::WAIT_DEPENDENCY);
  EXPECT_EQ(Evaluate(j, view, 0).remaining.size(), 1u);
  view.jobs[1].set_state(v1::COMPLETED);
  j.mutable_array()->set_array_job_id(2);
  j.mutable_array()->set_max_running(2);
  EXPECT_EQ(Evaluate(j, view, 2).wait, v1::WAIT_ARRAY_LIMIT);
  Verdict free = Evaluate(j, view, 1);
  EXPECT_EQ(free.wait, v1::WAIT_NONE);
  EXPECT_TRUE(free.remaining.empty());
  view.jobs[1].set_state(v1::FAILED);
  j.set_held(true);  // a dependency that can never hold cancels even a held job
  EXPECT_EQ(Evaluate(j, view, 0).never, "afterok:1");
  EXPECT_STREQ(WaitReason(v1::WAIT_HELD), "JobHeldUser");
  EXPECT_STREQ(WaitReason(v1::WAIT_DEPENDENCY), "Dependency");
  EXPECT_STREQ(WaitReason(v1::WAIT_ARRAY_LIMIT), "JobArrayTaskLimit");
}

TEST(EligibilityTest, SubmitQueuesOrWaits) {
  struct Case {
    const char* name;
    bool hold;
    std::vector<v1::Dependency> deps;
    v1::JobState want_state;
    v1::PendingWait want_wait;
    const char* want_reason;
  };
  const Case cases[] = {
      {"plain", false, {}, v1::PENDING, v1::WAIT_NONE, ""},
      {"held", true, {}, v1::PENDING, v1::WAIT_HELD, "JobHeldUser"},
      {"afterok running", false, {Dep(v1::AFTER_OK, 1)}, v1::PENDING, v1::WAIT_DEPENDENCY, "Dependency"},
      {"afterok completed", false, {Dep(v1::AFTER_OK, 2)}, v1::PENDING, v1::WAIT_NONE, ""},
      {"afterok failed", false, {Dep(v1::AFTER_OK, 3)}, v1::CANCELLED, v1::WAIT_NONE, "DependencyNeverSatisfied"},
      {"afternotok failed", false, {Dep(v1::AFTER_NOT_OK, 3)}, v1::PENDING, v1::WAIT_NONE, ""},
      {"both, one never", false, {Dep(v1::AFTER_OK, 1), Dep(v1::AFTER_NOT_OK, 2)}, v1::CANCELLED,
       v1::WAIT_NONE, "DependencyNeverSatisfied"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MapView view;
    view.jobs[1] = Row(1, v1::RUNNING);
    view.jobs[2] = Row(2, v1::COMPLETED);
    view.jobs[3] = Row(3, v1::FAILED);
    v1::Job job = Row(9, v1::JOB_STATE_UNSPECIFIED);
    job.mutable_spec()->set_hold(c.hold);
    for (const v1::Dependency& d : c.deps) *job.mutable_spec()->add_dependencies() = d;
    Edit e = Lifecycle().OnSubmitAll(view, {job}, kNow);
    const v1::Job& row = e.jobs.at(9);
    EXPECT_EQ(row.state(), c.want_state);
    EXPECT_EQ(row.wait(), c.want_wait);
    EXPECT_EQ(row.reason(), c.want_reason);
    EXPECT_EQ(row.submit_time_ms(), kNow);
    const bool queued = c.want_state == v1::PENDING && c.want_wait == v1::WAIT_NONE;
    EXPECT_EQ(CountCore(e, CoreChange::kAddPending, 9), queued ? 1 : 0);
    if (c.want_state == v1::CANCELLED) EXPECT_TRUE(row.released());
  }
}

TEST(EligibilityTest, ArraySubmitAdmitsAtMostK) {
  MapView view;
  std::vector<v1::Job> tasks;
  for (int i = 0; i < 5; ++i) {
    v1::Job t = Row(10 + i, v1::JOB_STATE_UNSPECIFIED);
    t.mutable_array()->set_array_job_id(10);
    t.mutable_array()->set_task_id(i);
    t.mutable_array()->set_max_running(2);
    tasks.push_back(t);
  }
  Edit e = Lifecycle().OnSubmitAll(view, tasks, kNow);
  ASSERT_EQ(e.jobs.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(e.jobs.at(10 + i).wait(), i < 2 ? v1::WAIT_NONE : v1::WAIT_ARRAY_LIMIT);
    EXPECT_EQ(CountCore(e, CoreChange::kAddPending, 10 + i), i < 2 ? 1 : 0);
  }
  EXPECT_EQ(e.jobs.at(12).reason(), "JobArrayTaskLimit");
}

class WakeTest : public ::testing::Test {
 protected:
  // Ends `id` in `state` (released) and wakes the waiting jobs, as LogAndApply does.
  Edit End(int64_t id, v1::JobState state) {
    Edit e;
    v1::Job row = view.jobs.at(id);
    row.set_state(state);
    row.set_released(true);
    e.jobs[id] = row;
    lc.Wake(view, e, kNow);
    view.Apply(e);
    return e;
  }
  v1::Job& Waiting(int64_t id, std::vector<v1::Dependency> deps) {
    v1::Job& j = view.jobs[id] = Row(id, v1::PENDING);
    for (const v1::Dependency& d : deps) *j.add_pending_dependencies() = d;
    j.set_wait(v1::WAIT_DEPENDENCY);
    j.set_reason("Dependency");
    return j;
  }
  Lifecycle lc;
  MapView view;
};

TEST_F(WakeTest, PipelineRunsInOrder) {
  view.jobs[1] = Row(1, v1::RUNNING);
  Waiting(2, {Dep(v1::AFTER_OK, 1)});
  Waiting(3, {Dep(v1::AFTER_NOT_OK, 2)});
  Edit e = End(1, v1::COMPLETED);
  EXPECT_EQ(view.jobs[2].wait(), v1::WAIT_NONE);
  EXPECT_EQ(view.jobs[2].pending_dependencies_size(), 0);
  EXPECT_EQ(CountCore(e, CoreChange::kAddPending, 2), 1);
  EXPECT_EQ(e.core.back().time, view.jobs[2].submit_time_ms());  // keeps its place in the queue
  EXPECT_EQ(view.jobs[3].wait(), v1::WAIT_DEPENDENCY);
  view.jobs[2].set_state(v1::RUNNING);
  End(2, v1::FAILED);
  EXPECT_EQ(view.jobs[3].wait(), v1::WAIT_NONE);  // afternotok: b failed
}

TEST_F(WakeTest, NeverSatisfiedCascadesInOnePass) {
  view.jobs[1] = Row(1, v1::RUNNING);
  Waiting(2, {Dep(v1::AFTER_OK, 1)});
  Waiting(3, {Dep(v1::AFTER_OK, 2)});
  Waiting(4, {Dep(v1::AFTER_NOT_OK, 2)});
  End(1, v1::TIMEOUT);
  EXPECT_EQ(view.jobs[2].state(), v1::CANCELLED);
  EXPECT_EQ(view.jobs[2].reason(), "DependencyNeverSatisfied");
  EXPECT_EQ(view.jobs[3].state(), v1::CANCELLED);  // its dependency was cancelled in this pass
  EXPECT_EQ(view.jobs[4].wait(), v1::WAIT_NONE);    // afternotok on a cancelled job holds
}

TEST_F(WakeTest, ArrayLimitAdmitsOneTaskPerFreedSlot) {
  for (int i = 0; i < 5; ++i) {
    v1::Job& t = view.jobs[10 + i] = Row(10 + i, i < 2 ? v1::RUNNING : v1::PENDING);
    t.mutable_array()->set_array_job_id(10);
    t.mutable_array()->set_task_id(i);
    t.mutable_array()->set_max_running(2);
    if (i >= 2) t.set_wait(v1::WAIT_ARRAY_LIMIT);
  }
  End(10, v1::COMPLETED);
  EXPECT_EQ(view.jobs[12].wait(), v1::WAIT_NONE);
  EXPECT_EQ(view.jobs[13].wait(), v1::WAIT_ARRAY_LIMIT);
  EXPECT_EQ(view.jobs[14].wait(), v1::WAIT_ARRAY_LIMIT);
  // A task that ended but may still run ranks (not released) keeps its slot.
  Edit e;
  v1::Job ending = view.jobs[11];
  ending.set_state(v1::FAILED);
  ending.add_allocation()->set_node("n0");
  e.jobs[11] = ending;
  lc.Wake(view, e, kNow);
  view.Apply(e);
  EXPECT_EQ(view.jobs[13].wait(), v1::WAIT_ARRAY_LIMIT);
}

TEST_F(WakeTest, HoldAndReleaseKeepTheSubmitTime) {
  view.jobs[1] = Row(1, v1::PENDING);
  view.jobs[2] = Row(2, v1::RUNNING);
  auto held = lc.OnHold(view, {1}, kNow);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(CountCore(*held, CoreChange::kRemovePending, 1), 1);
  view.Apply(*held);
  EXPECT_TRUE(view.jobs[1].held());
  EXPECT_EQ(view.jobs[1].reason(), "JobHeldUser");
  EXPECT_EQ(view.jobs[1].wait(), v1::WAIT_HELD);

  auto running = lc.OnHold(view, {1, 2}, kNow);  // one running job: nothing changes
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(running.status().message().find("job 2 is RUNNING"), std::string::npos);
  EXPECT_EQ(lc.OnHold(view, {77}, kNow).status().code(), StatusCode::kNotFound);

  auto released = lc.OnRelease(view, {1}, kNow);
  ASSERT_TRUE(released.ok());
  view.Apply(*released);
  EXPECT_FALSE(view.jobs[1].held());
  EXPECT_EQ(view.jobs[1].wait(), v1::WAIT_NONE);
  EXPECT_EQ(view.jobs[1].reason(), "");
  ASSERT_EQ(CountCore(*released, CoreChange::kAddPending, 1), 1);
  for (const CoreChange& c : released->core) {
    if (c.kind == CoreChange::kAddPending) EXPECT_EQ(c.time, view.jobs[1].submit_time_ms());
  }
}

TEST_F(WakeTest, ReleasedJobStillWaitsForItsDependency) {
  view.jobs[1] = Row(1, v1::RUNNING);
  v1::Job& j = Waiting(2, {Dep(v1::AFTER_OK, 1)});
  j.set_held(true);
  j.set_wait(v1::WAIT_HELD);
  auto released = lc.OnRelease(view, {2}, kNow);
  ASSERT_TRUE(released.ok());
  view.Apply(*released);
  EXPECT_EQ(view.jobs[2].wait(), v1::WAIT_DEPENDENCY);
  EXPECT_EQ(CountCore(*released, CoreChange::kAddPending, 2), 0);
}

TEST_F(WakeTest, CancelAllSkipsFinishedTasksAndRemovesOnlyQueuedOnes) {
  view.jobs[1] = Row(1, v1::COMPLETED);
  view.jobs[2] = Row(2, v1::PENDING);          // queued in the core
  Waiting(3, {Dep(v1::AFTER_OK, 1)});           // waiting outside it
  auto e = lc.OnCancelAll(view, {1, 2, 3}, kNow);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->jobs.count(1), 0u);
  EXPECT_EQ(e->jobs.at(2).state(), v1::CANCELLED);
  EXPECT_EQ(e->jobs.at(3).state(), v1::CANCELLED);
  EXPECT_EQ(CountCore(*e, CoreChange::kRemovePending, 2), 1);
  EXPECT_EQ(CountCore(*e, CoreChange::kRemovePending, 3), 0);
  EXPECT_EQ(lc.OnCancelAll(view, {1}, kNow).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lc.OnCancelAll(view, {1, 99}, kNow).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace loom::lifecycle
