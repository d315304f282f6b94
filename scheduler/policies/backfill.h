// BackfillPolicy ("multifactor-backfill"): multifactor queue order, EASY backfill on walltime
// limits, quotas, topology-aware gangs and QoS preemption in one pass over every pending job.
// Assumptions (Slurm's sched/backfill, Mu'alem and Feitelson's EASY):
//  - Jobs end by their time limit (a job without one never ends, as far as planning goes).
//  - Jobs are served in priority order; a job that fits now starts now. The first
//    max_reservations jobs that do not fit get a reservation: the earliest time at which the
//    running jobs' ends free a gang for them, and the GPUs of that gang.
//  - A lower job may start before a reservation only if it cannot delay it: it ends before the
//    earliest reservation starts, or it uses no reserved GPU. Reserved GPUs are never offered to
//    later reservations, so reservations cannot delay each other either.
//  - A job of a higher QoS that does not fit may preempt lower-QoS jobs (see preemption.h)
//    instead of waiting for a reservation. Planning costs a copy of the view and a sort of the
//    running jobs, so a pass plans for at most max_preemption_plans jobs (the highest first).
//  - A tenant over its GPU quota waits (Quota) and takes no reservation.
//  - LeafConstraint::kPreferOne means kRequireOne until the job has waited one_leaf_wait_ms.
#pragma once

#include <memory>

#include "scheduler/core/policy.h"
#include "scheduler/policies/multifactor_priority.h"

namespace loom::sched {

struct BackfillOptions {
  int max_reservations = 1;  // EASY: only the first blocked job holds a reservation
  bool preemption = true;
  int max_preemption_plans = 8;
};

class BackfillPolicy final : public SchedulingPolicy {
 public:
  BackfillPolicy(std::unique_ptr<Placer> placer, MultifactorPriority priority,
                 BackfillOptions options = {});
  std::string name() const override { return "multifactor-backfill"; }
  void Advance(std::span<const RunningJob> running, TimeMs now) override {
    priority_.Advance(running, now);
  }
  std::vector<TenantUsage> SaveUsage() const override { return priority_.ledger().Snapshot(); }
  void RestoreUsage(std::span<const TenantUsage> usage) override { priority_.RestoreUsage(usage); }
  PassResult Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                      std::span<const RunningJob> running, TimeMs now) const override;

  // age, fair_share, job_size and qos in [0, 1], then the resulting priority.
  std::vector<PriorityFactor> Explain(const Cluster& cluster, const PendingJob& job,
                                      TimeMs now) const override;
  const MultifactorPriority& priority() const { return priority_; }

 private:
  std::unique_ptr<Placer> placer_;
  MultifactorPriority priority_;
  BackfillOptions options_;
};

}  // namespace loom::sched
