// PriorityFifoPolicy: strict priority order, then submit order, no backfill.
// Assumptions: the queue is served in order and stops at the first job that does not fit, so a
// large job at the head is never starved by smaller ones behind it (they wait with reason
// Priority). Backfill, which lets those smaller jobs run when they cannot delay the head, is a
// separate policy.
#pragma once

#include <memory>

#include "scheduler/core/policy.h"

namespace loom::sched {

class PriorityFifoPolicy final : public SchedulingPolicy {
 public:
  explicit PriorityFifoPolicy(std::unique_ptr<Placer> placer) : placer_(std::move(placer)) {}
  std::string name() const override { return "priority-fifo"; }
  PassResult Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                      std::span<const RunningJob> running, TimeMs now) const override;

 private:
  std::unique_ptr<Placer> placer_;
};

// Priority descending, then submit time, then id: the order every policy breaks ties in.
bool QueueBefore(const PendingJob& a, const PendingJob& b);

}  // namespace loom::sched
