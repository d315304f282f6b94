// SchedulerCore: the deterministic heart of loomd and loom-sim. It owns the cluster model and the
// queue, validates requests against the cluster, runs a policy's pass and commits its decisions.
// No I/O, no threads, no clock: callers pass time in and persist what it decides.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/status.h"
#include "scheduler/core/cluster.h"
#include "scheduler/core/policy.h"

namespace loom::sched {

class SchedulerCore {
 public:
  explicit SchedulerCore(std::unique_ptr<SchedulingPolicy> policy);

  Cluster& cluster() { return cluster_; }
  const Cluster& cluster() const { return cluster_; }

  // Fills in gpus_per_node when it is 0 and checks that the request can ever run on this cluster
  // (all its nodes, up or down). INVALID_ARGUMENT for malformed requests, RESOURCE_EXHAUSTED for
  // requests larger than the cluster.
  StatusOr<JobRequest> Normalize(JobRequest request) const;

  // Queues a normalised request.
  Status AddPending(JobId id, const JobRequest& request, TimeMs submit_time);
  // Re-adopts a job that was already running (loomd restarted): its GPUs are held again. Its
  // request (time limit, QoS, tenant) and start time let backfill, fair share and preemption
  // account for it; without them it counts as never ending, QoS 0, no tenant.
  Status Adopt(JobId id, const Allocation& allocation, const JobRequest& request = {},
               TimeMs start_time = 0);
  // Marks a re-adopted running job as a victim already being preempted (loomd restarted during
  // its grace period), so no pass picks more victims for the GPUs it is about to give back.
  void MarkPreempting(JobId id);
  // Removes a pending job (cancelled); NOT_FOUND if it is not pending.
  Status RemovePending(JobId id);
  // Frees a running job's GPUs (it ended). Idempotent. With `end_time`, the next pass still
  // counts the job's GPU time up to then (fair share), however long ago that pass was.
  void Finish(JobId id, std::optional<TimeMs> end_time = std::nullopt);
  // Frees a running job's GPUs and queues it again with its request, as submitted at
  // `submit_time` (its preemption grace period is over, or its node failed). NOT_FOUND if it is not running.
  // `end_time` as for Finish.
  Status Requeue(JobId id, TimeMs submit_time, std::optional<TimeMs> end_time = std::nullopt);

  // Runs one pass and commits the starts: their GPUs are held when this returns, and the jobs
  // leave the queue. Waiting reasons and expected starts are kept for reason() and
  // expected_start(). Preemptions are only decided: the victims keep their GPUs until the caller,
  // after their grace period, calls Requeue; until then they are not chosen again.
  PassResult Schedule(TimeMs now);

  bool IsPending(JobId id) const { return pending_.count(id) != 0; }
  bool IsRunning(JobId id) const { return running_.count(id) != 0; }
  size_t pending_count() const { return pending_.size(); }
  // The pending request with the fewest GPUs (what fragmentation is measured against), or nullopt.
  std::optional<JobRequest> SmallestPending() const;
  WaitReason reason(JobId id) const;
  // When the last pass expected the job to start (a backfill reservation), or nullopt.
  std::optional<TimeMs> expected_start(JobId id) const;
  // The terms of a pending job's priority at `now` (empty if it is not pending or the policy
  // has none), for `loom show`.
  std::vector<PriorityFactor> Explain(JobId id, TimeMs now) const;
  const SchedulingPolicy& policy() const { return *policy_; }
  // The policy's usage to persist, and to restore after a restart (see SchedulingPolicy).
  std::vector<TenantUsage> SaveUsage() const { return policy_->SaveUsage(); }
  void RestoreUsage(std::span<const TenantUsage> usage) { policy_->RestoreUsage(usage); }

 private:
  struct Queued {
    JobRequest request;
    TimeMs submit_time = 0;
    WaitReason reason = WaitReason::kNone;
    std::optional<TimeMs> expected_start;
  };
  struct Running {
    JobRequest request;
    TimeMs start_time = 0;
    bool preempting = false;
  };

  std::unique_ptr<SchedulingPolicy> policy_;
  Cluster cluster_;
  std::map<JobId, Queued> pending_;
  std::map<JobId, Running> running_;
  std::vector<std::pair<Running, TimeMs>> ended_;  // finished since the last pass, with their end
};

}  // namespace loom::sched
