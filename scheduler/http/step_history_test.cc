#include <gtest/gtest.h>

#include "scheduler/http/loomd_http.h"

namespace loom::http {
namespace {

v1::Job Training(int64_t id, v1::JobState state, int64_t steps) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  v1::JobRun* r = j.add_runs();
  r->set_steps(steps);
  r->set_step_time_s(0.5 * static_cast<double>(steps));
  r->set_peak_flops(1e12);
  r->set_model_flops(1e11 * static_cast<double>(steps));
  return j;
}

TEST(StepHistory, RecordsRunningTrainingJobsOnly) {
  StepHistory h;
  h.Record({Training(1, v1::RUNNING, 10), Training(2, v1::PENDING, 0), Training(3, v1::RUNNING, 0)}, 1000);
  h.Record({Training(1, v1::RUNNING, 20)}, 3000);
  auto points = h.Of(1);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].t_ms, 1000);
  EXPECT_EQ(points[1].t_ms, 3000);
  EXPECT_DOUBLE_EQ(points[1].step_s, 0.5);
  EXPECT_DOUBLE_EQ(points[1].mfu, 0.2);  // 1e11 / (1e12 x 0.5 s) a step
  EXPECT_TRUE(h.Of(2).empty());
  EXPECT_TRUE(h.Of(3).empty());  // no steps reported yet
}

TEST(StepHistory, ForgetsEndedJobsAndKeepsABoundedTail) {
  StepHistory h;
  for (int64_t t = 0; t < static_cast<int64_t>(StepHistory::kPoints) + 10; ++t) {
    h.Record({Training(1, v1::RUNNING, 5)}, t);
  }
  auto points = h.Of(1);
  ASSERT_EQ(points.size(), StepHistory::kPoints);
  EXPECT_EQ(points.front().t_ms, 10);  // the oldest went first
  h.Record({}, 1000);
  EXPECT_TRUE(h.Of(1).empty());
}

}  // namespace
}  // namespace loom::http
