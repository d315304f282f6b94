#include "cli/job_control.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

v1::Job Task(int64_t id, int64_t array, int task, v1::JobState state, int limit = 0) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.mutable_array()->set_array_job_id(array);
  j.mutable_array()->set_task_id(task);
  j.mutable_array()->set_max_running(limit);
  return j;
}

TEST(CollapseArraysTest, PendingTasksBecomeOneRowRunningOnesStay) {
  std::vector<v1::Job> jobs = {Task(12, 12, 0, v1::RUNNING, 8), Task(13, 12, 1, v1::RUNNING, 8)};
  for (int t = 5; t <= 99; ++t) jobs.push_back(Task(12 + t, 12, t, v1::PENDING, 8));
  v1::Job plain;
  plain.set_id(200);
  plain.set_state(v1::PENDING);
  jobs.push_back(plain);
  jobs.push_back(Task(201, 201, 3, v1::PENDING));  // one pending task, no cap: 201_3
  std::vector<const v1::Job*> in;
  for (const v1::Job& j : jobs) in.push_back(&j);
  std::vector<QueueRow> rows = CollapseArrays(in);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].id, "12_0");
  EXPECT_EQ(rows[1].id, "12_1");
  EXPECT_EQ(rows[2].id, "12_[5-99%8]");
  EXPECT_EQ(rows[2].job->id(), 17);  // the first pending task's row (its reason)
  EXPECT_EQ(rows[3].id, "200");
  EXPECT_EQ(rows[4].id, "201_3");
}

TEST(ParseDependenciesTest, MakesOneTermPerId) {
  v1::JobSpec spec;
  ASSERT_TRUE(ParseDependencies("afterok:3:4_1,singleton", spec).ok());
  ASSERT_EQ(spec.dependencies_size(), 3);
  EXPECT_EQ(spec.dependencies(0).type(), v1::AFTER_OK);
  EXPECT_EQ(spec.dependencies(1).job_id(), 4);
  EXPECT_EQ(spec.dependencies(1).array_task(), 1);
  EXPECT_FALSE(spec.dependencies(0).has_array_task());
  EXPECT_EQ(spec.dependencies(2).type(), v1::SINGLETON);
  v1::JobSpec bad;
  EXPECT_FALSE(ParseDependencies("afterok", bad).ok());
  EXPECT_EQ(bad.dependencies_size(), 0);
  EXPECT_EQ(ParseRef("12_7")->array_task(), 7);
  EXPECT_FALSE(ParseRef("12_").ok());
}

}  // namespace
}  // namespace loom::cli
