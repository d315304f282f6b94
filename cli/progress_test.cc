#include "cli/progress.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

v1::Job Job(v1::JobState state, const std::string& reason) {
  v1::Job j;
  j.set_id(3);
  j.set_state(state);
  j.set_reason(reason);
  return j;
}

TEST(StateChange, PrintsEachChangeOnce) {
  v1::Job pending = Job(v1::PENDING, "Resources");
  EXPECT_EQ(StateChange(nullptr, pending), "Job 3 PENDING (Resources)");
  EXPECT_EQ(StateChange(&pending, pending), "");
  v1::Job priority = Job(v1::PENDING, "Priority");
  EXPECT_EQ(StateChange(&pending, priority), "Job 3 PENDING (Priority)");
  v1::Job running = Job(v1::RUNNING, "");
  running.add_allocation()->set_node("node-1");
  running.add_allocation()->set_node("node-2");
  EXPECT_EQ(StateChange(&priority, running), "Job 3 RUNNING on node-1,node-2");
}

TEST(StateChange, FinalStatesAreLeftToTheLastLine) {
  v1::Job running = Job(v1::RUNNING, "");
  EXPECT_EQ(StateChange(&running, Job(v1::COMPLETED, "")), "");
  EXPECT_TRUE(IsFinal(v1::TIMEOUT));
  EXPECT_TRUE(IsFinal(v1::NODE_FAIL));
  EXPECT_FALSE(IsFinal(v1::RUNNING));
}

}  // namespace
}  // namespace loom::cli
