// Eligibility: whether a PENDING job may join the scheduler core's queue. Pure, like the rest of
// the lifecycle. A job waits outside the queue (the core never sees it) while it is held, while a
// dependency term is unsatisfied, or while its array already has %K tasks active; the first that
// applies names its reason (Slurm's JobHeldUser, Dependency, JobArrayTaskLimit).
//
// Dependency terms (Slurm's semantics; a term on an array covers every task):
//   afterok    satisfied when the job ended COMPLETED; never once it ended otherwise (an array:
//              never once one task ended otherwise)
//   afterany   satisfied when the job ended, in any state
//   afternotok satisfied when the job ended not COMPLETED; never once it ended COMPLETED (an
//              array: satisfied when every task ended and one did not complete; never if all did)
//   singleton  satisfied when no earlier job (lower id) of the same tenant and name is unfinished
// A satisfied term is removed from the job's pending_dependencies and never checked again. A term
// that can never be satisfied cancels the job (DependencyNeverSatisfied). Since a term can only
// name a job that existed when it was submitted, dependencies cannot form a cycle.
#pragma once

#include <string>
#include <vector>

#include "loom/v1/loom.pb.h"
#include "scheduler/lifecycle/lifecycle.h"

namespace loom::lifecycle {

enum class TermState { kWaiting, kSatisfied, kNever };
// One dependency term of `job`, reading rows through `view`.
TermState EvaluateTerm(const v1::Dependency& term, const v1::Job& job, const View& view);

struct Verdict {
  v1::PendingWait wait = v1::WAIT_NONE;   // WAIT_NONE: eligible
  std::vector<v1::Dependency> remaining;  // the terms still unsatisfied
  std::string never;                      // non-empty: the term that can never hold, in words
};
// `array_active`: how many tasks of the job's array are active now (ArrayActive, kept up to date
// by a caller that admits several tasks at once).
Verdict Evaluate(const v1::Job& job, const View& view, int array_active);

// Tasks of an array that count against its %K: queued in the core, running, or ended with ranks
// possibly still alive (not released).
bool CountsAgainstArrayLimit(const v1::Job& task);
int ArrayActive(const View& view, int64_t array_job_id);

// Slurm's reason names: JobHeldUser, Dependency, JobArrayTaskLimit ("" for WAIT_NONE).
const char* WaitReason(v1::PendingWait wait);
// "afterok:12", "singleton": a term in the CLI's words (an array's term names the array).
std::string DescribeTerm(const v1::Dependency& term);

}  // namespace loom::lifecycle
