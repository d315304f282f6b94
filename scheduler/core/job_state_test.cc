#include "scheduler/core/job_state.h"

#include <gtest/gtest.h>

namespace loom::sched {
namespace {

constexpr JobState kAll[] = {JobState::kPending, JobState::kRunning, JobState::kCompleted,
                             JobState::kFailed, JobState::kCancelled};

TEST(JobStateTest, LegalPathsAreAccepted) {
  EXPECT_TRUE(IsValidTransition(JobState::kPending, JobState::kRunning));
  EXPECT_TRUE(IsValidTransition(JobState::kPending, JobState::kCancelled));
  EXPECT_TRUE(IsValidTransition(JobState::kRunning, JobState::kCompleted));
  EXPECT_TRUE(IsValidTransition(JobState::kRunning, JobState::kFailed));
  EXPECT_TRUE(IsValidTransition(JobState::kRunning, JobState::kCancelled));
  EXPECT_TRUE(IsValidTransition(JobState::kRunning, JobState::kPending));  // requeue
}

TEST(JobStateTest, TerminalStatesNeverLeave) {
  for (JobState from : kAll) {
    if (!IsTerminal(from)) continue;
    for (JobState to : kAll) {
      EXPECT_FALSE(IsValidTransition(from, to)) << JobStateName(from) << "->" << JobStateName(to);
      Status s = CheckTransition(7, from, to);
      EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
      EXPECT_NE(s.message().find("already ended"), std::string::npos) << s.message();
    }
  }
}

TEST(JobStateTest, PendingCannotFinishWithoutRunning) {
  EXPECT_FALSE(IsValidTransition(JobState::kPending, JobState::kCompleted));
  EXPECT_FALSE(IsValidTransition(JobState::kPending, JobState::kFailed));
  EXPECT_FALSE(IsValidTransition(JobState::kPending, JobState::kPending));
  EXPECT_EQ(CheckTransition(3, JobState::kPending, JobState::kCompleted).message(),
            "job 3 cannot go from PENDING to COMPLETED");
}

}  // namespace
}  // namespace loom::sched
