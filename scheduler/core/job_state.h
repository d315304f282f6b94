// The job state machine. Every state change in loomd goes through CheckTransition, so an illegal
// move (restarting a finished job, completing a job that never ran) is refused, not recorded.
//
//   PENDING ──▶ RUNNING ──▶ COMPLETED | FAILED | CANCELLED
//      └──────────────────▶ CANCELLED
//   RUNNING ──▶ PENDING  (requeue: the job's node failed or it was preempted)
#pragma once

#include "common/status.h"
#include "scheduler/core/types.h"

namespace loom::sched {

bool IsValidTransition(JobState from, JobState to);
Status CheckTransition(JobId id, JobState from, JobState to);

}  // namespace loom::sched
