// MultifactorPriority: the order the queue is served in (Slurm's priority/multifactor).
// Assumptions:
//  - Each factor is a number in [0, 1]: age (waiting time over max_age_ms, capped), fair share
//    (the tenant's FairShareLedger factor), job size (GPUs over the cluster's: large jobs first,
//    as they are the hardest to place and the ones a training cluster exists for) and QoS (over
//    max_qos). The priority is their weighted sum plus the request's own `priority` as an
//    administrator's boost, unscaled.
//  - QoS is a tier before it is a factor: a higher QoS is served first whatever the other
//    factors say. Preemption works by QoS tier, so a job that preempted others must not then
//    queue behind the very jobs it displaced (they come back older and, often, larger).
//  - Ties keep QueueBefore's order (priority, submit time, id), so the order is deterministic.
#pragma once

#include <span>
#include <vector>

#include "scheduler/core/policy.h"
#include "scheduler/policies/fair_share.h"

namespace loom::sched {

struct PriorityWeights {
  double age = 1000;
  double fair_share = 10000;
  double job_size = 1000;
  double qos = 2000;
  TimeMs max_age_ms = 7LL * 24 * 3600 * 1000;
  int max_qos = 10;
};

// What `loom show` prints for a pending job (like sprio).
struct PriorityFactors {
  double age = 0, fair_share = 0, job_size = 0, qos = 0;  // each in [0, 1]
  double priority = 0;                                    // the weighted sum, plus the boost
};

class MultifactorPriority {
 public:
  MultifactorPriority(PriorityWeights weights, FairShareConfig fair_share);

  void Advance(std::span<const RunningJob> running, TimeMs now) { ledger_.Advance(running, now); }
  const FairShareLedger& ledger() const { return ledger_; }
  void RestoreUsage(std::span<const TenantUsage> usage) { ledger_.Restore(usage); }

  PriorityFactors Factors(const PendingJob& job, int cluster_gpus, TimeMs now) const;
  // The jobs in the order they are served, highest priority first.
  std::vector<PendingJob> Order(std::span<const PendingJob> pending, int cluster_gpus,
                                TimeMs now) const;

 private:
  PriorityFactors Combine(const PendingJob& job, double fair_share, int cluster_gpus,
                          TimeMs now) const;

  PriorityWeights weights_;
  FairShareLedger ledger_;
};

}  // namespace loom::sched
