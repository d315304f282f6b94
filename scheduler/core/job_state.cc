#include "scheduler/core/job_state.h"

#include <string>

namespace loom::sched {

bool IsValidTransition(JobState from, JobState to) {
  switch (from) {
    case JobState::kPending:
      return to == JobState::kRunning || to == JobState::kCancelled;
    case JobState::kRunning:
      return to == JobState::kCompleted || to == JobState::kFailed ||
             to == JobState::kCancelled || to == JobState::kPending;
    case JobState::kCompleted:
    case JobState::kFailed:
    case JobState::kCancelled:
      return false;
  }
  return false;
}

Status CheckTransition(JobId id, JobState from, JobState to) {
  if (IsValidTransition(from, to)) return Status::Ok();
  if (IsTerminal(from)) {
    return FailedPrecondition("job " + std::to_string(id) + " already ended (" +
                              JobStateName(from) + ")");
  }
  return FailedPrecondition("job " + std::to_string(id) + " cannot go from " +
                            JobStateName(from) + " to " + JobStateName(to));
}

}  // namespace loom::sched
