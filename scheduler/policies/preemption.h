// Preemption planner: which running jobs to stop so a blocked job of a higher QoS can start.
// Assumptions:
//  - Only jobs of a strictly lower QoS are victims, and always whole gangs (a gang that loses one
//    rank loses all its progress since the last checkpoint anyway).
//  - A victim costs the GPU-hours it has run since it started (what is lost without a
//    checkpoint; the grace period lets it checkpoint, so this is an upper bound). Victims are
//    taken lowest QoS first, then cheapest first, until the job fits; victims whose GPUs the
//    job's placement does not use are then given back, so the set is small and cheap. This is
//    greedy, not optimal (the exact choice is a weighted set cover), and costs one copy of the
//    view and one sort of the running jobs per plan.
//  - Jobs already chosen as victims (still in their grace period) cost nothing and are used
//    first, so repeated passes do not stop more jobs for the same need.
//  - The plan is pure: the mechanism signals the victims and requeues them after the grace.
#pragma once

#include <span>
#include <unordered_set>
#include <vector>

#include "scheduler/core/policy.h"

namespace loom::sched {

struct PreemptionPlan {
  std::vector<JobId> victims;  // new victims only, cheapest first
  double gpu_hours_lost = 0;
};

// A plan that lets `request` fit on `view` plus the victims' GPUs, or nullopt. Jobs in `spoken_for`
// (victims already chosen for other jobs in this pass) are not considered.
std::optional<PreemptionPlan> PlanPreemption(const CapacityView& view, const JobRequest& request,
                                             std::span<const RunningJob> running,
                                             const std::unordered_set<JobId>& spoken_for,
                                             const Placer& placer, TimeMs now);

}  // namespace loom::sched
